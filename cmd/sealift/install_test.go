package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/sealift-dev/sealift/config"
	"github.com/sealift-dev/sealift/deploy"
)

const testImage = "registry.example/sealift/sealift:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestInstallExport: --export prints the base exactly as kustomize builds
// config/default from the repository; with --image only the image differs.
func TestInstallExport(t *testing.T) {
	dir, err := filepath.Abs("../../config/default")
	if err != nil {
		t.Fatal(err)
	}
	base, err := config.Build(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "install", "--export")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(base) {
		t.Fatalf("install --export differs from kustomize build config/default:\n%s", out)
	}
	out, err = runCLI(t, "install", "--export", "--image", "example.com/team/sealift:v2", "--registry", "mirror.internal:5000/platform")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(base), "image: sealift\n", "image: mirror.internal:5000/platform/sealift:v2\n", 1)
	if want == string(base) {
		t.Fatal("the base names no 'image: sealift'")
	}
	if out != want {
		t.Fatalf("install --export --image --registry:\n%s", out)
	}
}

func TestInstallFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--kubeconfig", "/nonexistent"}, "--image is required"},
		{[]string{"install", "--export", "--image", "oci://x/y"}, "image"},
		{[]string{"install", "--export", "--image", "x/y:v1", "--registry", "a:b:c"}, "registry"},
		{[]string{"install", "--image", "x/y:v1", "--timeout", "0s"}, "--timeout"},
		{[]string{"uninstall", "--timeout", "-1s"}, "--timeout"},
		{[]string{"install", "extra"}, "unknown command"},
	} {
		_, err := runCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

// markAvailable writes the status a running Deployment would have: the
// test API server has no controller manager and no node, so nothing else
// ever will.
func markAvailable(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cs.AppsV1().Deployments(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation,
			Replicas:           n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			},
		}
		_, err = cs.AppsV1().Deployments(config.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSync(name string, finalizer bool) *unstructured.Unstructured {
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sealift.dev/v1alpha1",
		"kind":       "Sync",
		"metadata":   map[string]any{"name": name, "namespace": "apps"},
		"spec": map[string]any{
			"source": map[string]any{"url": "oci://registry.example/apps/app", "ref": map[string]any{"tag": "v1"}},
			"verify": map[string]any{"keys": []any{map[string]any{"secretRef": map[string]any{"name": "cosign-pub"}}}},
		},
	}}
	if finalizer {
		s.SetFinalizers([]string{syncFinalizer})
	}
	return s
}

// TestInstallCheckUninstall walks an install's life on the real API server
// (no node runs, so the Deployment's status is written by the test):
// install gives up on a controller that is not Available with a clear
// error, succeeds once it is, check passes, uninstall --prune-workloads
// waits for a controller that does not prune and leaves sealift in place,
// uninstall removes the Syncs (keeping their workloads), the controller and
// the CRD, and check then reports what is missing.
func TestInstallCheckUninstall(t *testing.T) {
	ctx := context.Background()
	kc := kubeEnv.Kubeconfig
	cs, err := kubernetes.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}

	// Not Available: a bounded wait and an error naming the Deployment.
	out, err := run(t, "install", "--image", testImage, "--kubeconfig", kc, "--timeout", "3s")
	if err == nil {
		t.Fatalf("install succeeded with no controller running:\n%s", out)
	}
	for _, want := range []string{"Deployment/sealift-system/sealift-controller", "gave up after 3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("install error %q lacks %q", err, want)
		}
	}
	d, err := cs.AppsV1().Deployments(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the controller Deployment was not created: %v", err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != testImage {
		t.Errorf("image = %q, want %q", got, testImage)
	}
	if d.Labels[deploy.LabelSyncName] != installOwner.Name {
		t.Errorf("the Deployment lacks the install's ownership labels: %v", d.Labels)
	}
	for _, get := range []func() error{
		func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, config.Namespace, metav1.GetOptions{})
			return err
		},
		func() error { _, err := dyn.Resource(crdGVR).Get(ctx, config.CRDName, metav1.GetOptions{}); return err },
		func() error {
			_, err := cs.CoreV1().ServiceAccounts(config.Namespace).Get(ctx, config.ServiceAccount, metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps(config.Namespace).Get(ctx, deploy.InventoryName(installOwner.Name), metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Errorf("after install: %v", err)
		}
	}

	// Available: install (again: an upgrade with nothing to change) succeeds.
	markAvailable(t, cs)
	out, err = runCLI(t, "install", "--image", testImage, "--kubeconfig", kc, "--timeout", "1m")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "0 created") || !strings.Contains(out, "is Available") {
		t.Errorf("second install printed:\n%s", out)
	}

	out, err = runCLI(t, "check", "--kubeconfig", kc)
	if err != nil {
		t.Fatalf("check after install: %v\n%s", err, out)
	}
	for _, want := range []string{"Kubernetes v1.", "syncs.sealift.dev is established", "sealift-controller is ready (1/1", "cluster-admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "check", "--pre", "--kubeconfig", kc)
	if err != nil || !strings.Contains(out, "RBAC: your user has the 7 rights checked") {
		t.Errorf("check --pre: %v\n%s", err, out)
	}

	// A Sync (as the controller leaves it: with its finalizer) and what it
	// applied.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(syncsGVR).Namespace("apps").Create(ctx, testSync("app", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	workload := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "apps",
		Labels: map[string]string{deploy.LabelSyncName: "app", deploy.LabelSyncNamespace: "apps"}}}
	if _, err := cs.CoreV1().ConfigMaps("apps").Create(ctx, workload, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// --prune-workloads needs the controller to prune; none runs here, so
	// the Sync stays and so does sealift.
	_, err = runCLI(t, "uninstall", "--prune-workloads", "--kubeconfig", kc, "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "apps/app") || !strings.Contains(err.Error(), "not gone in time") {
		t.Fatalf("uninstall --prune-workloads with no controller pruning: err = %v, want the Sync named as not gone", err)
	}
	if _, err := cs.AppsV1().Deployments(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{}); err != nil {
		t.Fatalf("the controller was removed although a Sync was still being pruned: %v", err)
	}

	// A second Sync, not yet deleted, so uninstall suspends it first.
	if _, err := dyn.Resource(syncsGVR).Namespace("apps").Create(ctx, testSync("other", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// --keep-namespace: the test API server runs no namespace controller, so
	// a deleted sealift-system would stay Terminating for the package's
	// other tests (TestUninstallStages covers the Namespace's delete).
	out, err = runCLI(t, "uninstall", "--keep-namespace", "--kubeconfig", kc, "--timeout", "1m")
	if err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if !strings.Contains(out, "deleted 2 Sync(s), their workloads kept") {
		t.Errorf("uninstall printed:\n%s", out)
	}
	if _, err := cs.CoreV1().ConfigMaps("apps").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("the Sync's workload did not stay: %v", err)
	}
	if _, err := dyn.Resource(crdGVR).Get(ctx, config.CRDName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the CRD is still there: %v", err)
	}
	for _, name := range []string{"sealift-controller", "sealift-controller-cluster-admin"} {
		if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRoleBinding %s is still there: %v", name, err)
		}
	}
	if _, err := cs.AppsV1().Deployments(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the controller Deployment is still there: %v", err)
	}
	if ns, err := cs.CoreV1().Namespaces().Get(ctx, config.Namespace, metav1.GetOptions{}); err != nil || ns.DeletionTimestamp != nil {
		t.Errorf("--keep-namespace: the Namespace %s: %v, deleting %v", config.Namespace, err, err == nil && ns.DeletionTimestamp != nil)
	}
	for _, name := range []string{deploy.InventoryName(installOwner.Name)} {
		if _, err := cs.CoreV1().ConfigMaps(config.Namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMap %s is still there: %v", name, err)
		}
	}
	// Gone, or going: the PVC waits for the protection controller, which
	// the test API server does not run.
	for _, get := range []func() (metav1.Object, error){
		func() (metav1.Object, error) {
			return cs.CoreV1().ServiceAccounts(config.Namespace).Get(ctx, config.ServiceAccount, metav1.GetOptions{})
		},
		func() (metav1.Object, error) {
			return cs.CoreV1().PersistentVolumeClaims(config.Namespace).Get(ctx, "sealift-cache", metav1.GetOptions{})
		},
		func() (metav1.Object, error) {
			return cs.RbacV1().Roles(config.Namespace).Get(ctx, "sealift-leader-election", metav1.GetOptions{})
		},
	} {
		o, err := get()
		if err == nil && o.GetDeletionTimestamp() == nil {
			t.Errorf("after uninstall %s is still there", o.GetName())
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	}

	var buf bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	cmd.SetArgs([]string{"check", "--kubeconfig", kc})
	err = cmd.ExecuteContext(ctx)
	if err == nil {
		t.Fatalf("check passed with nothing installed:\n%s", buf.String())
	}
	for _, want := range []string{"✗ CustomResourceDefinition syncs.sealift.dev is missing", "✗ controller Deployment sealift-system/sealift-controller is missing"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestUninstallStages: the controller goes first, the CRD after everything
// but the Namespace, and the Namespace last unless kept.
func TestUninstallStages(t *testing.T) {
	cm := deploy.ObjectRef{Kind: "ConfigMap", Namespace: config.Namespace, Name: "x"}
	crd := deploy.ObjectRef{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: config.CRDName}
	ns := deploy.ObjectRef{Kind: "Namespace", Name: config.Namespace}
	refs := deploy.NewInventory(ns, crd, cm, controllerRef)
	got := uninstallStages(refs, false)
	want := [][]deploy.ObjectRef{{controllerRef}, {cm}, {crd}, {ns}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stages = %v, want %v", got, want)
	}
	if got := uninstallStages(refs, true); len(got[3]) != 0 {
		t.Errorf("--keep-namespace still deletes %v", got[3])
	}
}
