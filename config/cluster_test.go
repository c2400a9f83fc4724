package config_test

import (
	"context"
	"os"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/sealift-dev/sealift/config"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }

// clients returns a dynamic client and a function resolving an object's
// resource.
func clients(t *testing.T) (dynamic.Interface, func(*unstructured.Unstructured) dynamic.ResourceInterface) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(cs.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	return dyn, func(o *unstructured.Unstructured) dynamic.ResourceInterface {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		if m.Scope.Name() == "namespace" {
			return dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		return dyn.Resource(m.Resource)
	}
}

func apply(ctx context.Context, r dynamic.ResourceInterface, o *unstructured.Unstructured, dryRun bool) error {
	body, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "config-test", Force: new(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = r.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
	return err
}

// TestServerSideDryRun sends every object of the base and of the lockdown
// overlay to the real API server as a server-side dry-run apply (the
// Namespace is created first: the server refuses any request in a
// namespace that does not exist), then the controller's Pod as a dry-run
// create into the namespace, where the restricted profile is enforced.
func TestServerSideDryRun(t *testing.T) {
	ctx := context.Background()
	for _, overlay := range []string{config.Default, config.Lockdown} {
		t.Run(overlay, func(t *testing.T) {
			out, err := config.Render(config.Options{Overlay: overlay, Image: "example.com/sealift:v1"})
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, out)
			_, resource := clients(t)
			ns := find(t, objs, "Namespace", config.Namespace)
			if err := apply(ctx, resource(ns), ns, true); err != nil {
				t.Fatalf("dry run of the Namespace: %v", err)
			}
			if err := apply(ctx, resource(ns), ns, false); err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if o.GetKind() == "Namespace" {
					continue
				}
				if err := apply(ctx, resource(o), o, true); err != nil {
					t.Errorf("server-side dry-run apply of %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}

			d := deployment(t, objs)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "controller-dry-run", Namespace: config.Namespace, Labels: d.Spec.Template.Labels},
				Spec:       d.Spec.Template.Spec,
			}
			cs, err := kubernetes.NewForConfig(env.Config)
			if err != nil {
				t.Fatal(err)
			}
			create := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
			if _, err := cs.CoreV1().Pods(config.Namespace).Create(ctx, pod, create); err != nil {
				t.Fatalf("the controller Pod is refused in %s: %v", config.Namespace, err)
			}
			// The namespace does enforce the profile: the same Pod running
			// as root is refused.
			root := pod.DeepCopy()
			root.Spec.SecurityContext.RunAsNonRoot = new(false)
			root.Spec.SecurityContext.RunAsUser = new(int64(0))
			root.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
			_, err = cs.CoreV1().Pods(config.Namespace).Create(ctx, root, create)
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
				t.Fatalf("a root Pod in %s: err = %v, want refused by PodSecurity", config.Namespace, err)
			}
		})
	}
}

// TestLockdownImpersonation installs the lockdown overlay for real and
// acts as the controller's service account, with a token the API server
// issued for it: it cannot write on its own, it can apply through deploy
// by impersonating a tenant's service account (within that account's
// rights only), and it cannot impersonate a group.
func TestLockdownImpersonation(t *testing.T) {
	ctx := context.Background()
	out, err := config.Render(config.Options{Overlay: config.Lockdown, Image: "example.com/sealift:v1"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := deploy.NewManager(env.Config, deploy.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ApplyAllStaged(ctx, decode(t, out)); err != nil {
		t.Fatalf("apply the lockdown install: %v", err)
	}
	tenant := decode(t, []byte(`
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: deployer, namespace: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: team-a}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployer, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects: [{kind: ServiceAccount, name: deployer, namespace: team-a}]
`))
	if _, err := admin.ApplyAllStaged(ctx, tenant); err != nil {
		t.Fatal(err)
	}

	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(config.Namespace).CreateToken(ctx, config.ServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: new(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for the controller: %v", err)
	}
	controller := rest.AnonymousClientConfig(env.Config)
	controller.BearerToken = tok.Status.Token

	cm := func(ns string) []*unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind("ConfigMap")
		o.SetName("app")
		o.SetNamespace(ns)
		_ = unstructured.SetNestedField(o.Object, "v", "data", "k")
		return []*unstructured.Unstructured{o}
	}

	own, err := deploy.NewManager(controller, deploy.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.ApplyAllStaged(ctx, cm("team-a")); !apierrors.IsForbidden(err) {
		t.Fatalf("the locked-down controller applied with its own rights: err = %v, want forbidden", err)
	}

	asTenant, err := deploy.NewManager(controller, deploy.ManagerOptions{ServiceAccount: "team-a/deployer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asTenant.ApplyAllStaged(ctx, cm("team-a")); err != nil {
		t.Fatalf("apply as team-a/deployer: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, "app", metav1.GetOptions{}); err != nil {
		t.Fatalf("the ConfigMap applied as the tenant is not there: %v", err)
	}
	if _, err := asTenant.ApplyAllStaged(ctx, cm("team-b")); !apierrors.IsForbidden(err) {
		t.Fatalf("team-a/deployer applied into team-b: err = %v, want forbidden", err)
	}

	masters := rest.CopyConfig(controller)
	masters.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:team-a:deployer", Groups: []string{"system:masters"}}
	mcs, err := kubernetes.NewForConfig(masters)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mcs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the controller impersonated system:masters: err = %v, want forbidden", err)
	}
}
