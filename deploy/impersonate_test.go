package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
)

func TestImpersonationIsLimitedByRBAC(t *testing.T) {
	ctx := context.Background()
	const ns = "tenant"
	admin := newManager(t, deploy.ManagerOptions{})
	setup := objects(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  namespace: NS`)
	if _, err := admin.ApplyAllStaged(ctx, setup); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, deploy.ManagerOptions{ServiceAccount: ns + "/deployer"})
	app := objects(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: NS\ndata:\n  k: v")

	// No role yet: every request is refused.
	_, err := m.ApplyAllStaged(ctx, app)
	var ae *deploy.ApplyError
	if !errors.As(err, &ae) || ae.Object != "ConfigMap/"+ns+"/app" || !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "system:serviceaccount:"+ns+":deployer") {
		t.Fatalf("err = %v, want a forbidden ApplyError for ConfigMap/%s/app naming the service account", err, ns)
	}
	if exists(t, ns, "app") {
		t.Fatal("the ConfigMap was created despite RBAC")
	}

	// A Role granting ConfigMaps in the namespace, and only that.
	rbac := objects(t, ns, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: deployer
  namespace: NS
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: deployer
  namespace: NS
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: NS}`)
	if _, err := admin.ApplyAllStaged(ctx, rbac); err != nil {
		t.Fatal(err)
	}
	waitForGrant(t, "system:serviceaccount:"+ns+":deployer", ns)
	if _, err := m.ApplyAllStaged(ctx, app); err != nil {
		t.Fatalf("apply with the role bound: %v", err)
	}
	// Enough objects to be listed rather than read one by one: the role
	// grants no list, so the Manager falls back to reads.
	many := configMaps(t, ns, "m1", "m2", "m3", "m4", "m5")[1:]
	for range 2 {
		cs, err := m.ApplyAllStaged(ctx, many)
		if err != nil {
			t.Fatalf("apply without list permission: %v", err)
		}
		if len(cs.Changes) != len(many) {
			t.Errorf("changes = %v", cs.Changes)
		}
	}
	// Still nothing outside the grant: a ConfigMap in another namespace.
	_, err = m.ApplyAllStaged(ctx, objects(t, "default", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escape\n  namespace: NS"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ConfigMap/default/escape") {
		t.Errorf("apply outside the grant: err = %v, want forbidden naming ConfigMap/default/escape", err)
	}
}

func TestNewManagerRefusesBadOptions(t *testing.T) {
	tests := map[string]deploy.ManagerOptions{
		"service account without namespace": {ServiceAccount: "deployer"},
		"unknown adopt policy":              {ApplyOptions: deploy.ApplyOptions{Adopt: "sometimes"}},
		"owner without namespace":           {ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: "app"}}},
		"owner name too long for a label":   {ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: strings.Repeat("a", 64), Namespace: "x"}}},
	}
	base := newManager(t, deploy.ManagerOptions{})
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := deploy.NewManager(env.Config, opts); !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("NewManager: err = %v, want ErrInvalidObject", err)
			}
			if opts.ServiceAccount != "" {
				return
			}
			if _, err := base.With(opts.ApplyOptions); !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("With: err = %v, want ErrInvalidObject", err)
			}
		})
	}
}

// waitForGrant waits until the API server's authorizer has seen a new
// RoleBinding (its RBAC cache is filled by an informer, so a grant takes a
// moment to apply), asking it with a SubjectAccessReview.
func waitForGrant(t *testing.T, user, ns string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "configmaps"},
	}}
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return res.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("the grant to %s never took effect: %v", user, err)
	}
}

// TestImpersonatedApplyOfARoleAndItsBinding: a service account that may
// only grant what it holds can apply a Role and a RoleBinding to it in one
// set. The API server checks a binding against its role's rules, so the
// binding is validated (dry run) and written once the role exists.
func TestImpersonatedApplyOfARoleAndItsBinding(t *testing.T) {
	ctx := context.Background()
	const ns = "tenant-rbac"
	setup := objects(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
  namespace: NS
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: deployer
  namespace: NS
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: deployer
  namespace: NS
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: NS}`)
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, setup); err != nil {
		t.Fatal(err)
	}
	waitForGrant(t, "system:serviceaccount:"+ns+":deployer", ns)
	m := newManager(t, deploy.ManagerOptions{ServiceAccount: ns + "/deployer"})
	// The binding comes first in the set.
	set := objects(t, ns, `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: NS
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: ServiceAccount, name: default, namespace: NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: NS
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]`)
	cs, err := m.ApplyAllStaged(ctx, set)
	if err != nil {
		t.Fatalf("apply of a Role and its binding: %v", err)
	}
	wantActions(t, cs, map[string]deploy.Action{"Role/" + ns + "/reader": deploy.ActionCreated, "RoleBinding/" + ns + "/reader": deploy.ActionCreated})
	if last := cs.Changes[len(cs.Changes)-1].Object; last != "RoleBinding/"+ns+"/reader" {
		t.Errorf("binding not applied after its role: %v", cs.Changes)
	}
}
