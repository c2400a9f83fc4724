package deploy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
)

var crbGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}

// gone reports whether the object gvr/ns/name does not exist.
func gone(t *testing.T, gvr schema.GroupVersionResource, ns, name string) bool {
	t.Helper()
	_, err := dyn(t).Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

// wantRefused checks that err is a policy violation naming object and that
// nothing was applied.
func wantRefused(t *testing.T, cs *deploy.ChangeSet, err error, sentinel error, object string) {
	t.Helper()
	var ae *deploy.ApplyError
	if !errors.Is(err, sentinel) || !errors.As(err, &ae) || !strings.Contains(err.Error(), object) {
		t.Fatalf("err = %v, want %v for %s", err, sentinel, object)
	}
	if len(cs.Changes) != 0 {
		t.Errorf("refused set still applied %v", cs.Changes)
	}
}

// victims creates, as an admin outside any sync, a ConfigMap
// victim-ns/precious and a ClusterRole named role, neither labelled.
func victims(t *testing.T, victimNS, role string) deploy.Inventory {
	t.Helper()
	objs := objects(t, victimNS, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: precious
  namespace: NS
data:
  k: v
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: `+role+`
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]`)
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	return deploy.NewInventory(deploy.RefOf(objs[1]), deploy.RefOf(objs[2]))
}

// forgedInventory is a ConfigMap shaped like the inventory of sync ns/name,
// with its ownership labels, listing entries.
func forgedInventory(ns, name string, entries deploy.Inventory) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": deploy.InventoryName(name), "namespace": ns,
			"labels": map[string]any{deploy.LabelSyncName: name, deploy.LabelSyncNamespace: ns},
		},
		"data": map[string]any{"entries": strings.Join(entries.Strings(), "\n")},
	}}
}

// TestAttackForgedInventoryPrunesForeignObjects: an artifact that ships its
// sync's inventory ConfigMap, listing objects no sync owns, must not make a
// prune delete them. The ConfigMap is refused before anything is applied,
// whatever the adoption policy; and an inventory forged in the cluster
// (written by anyone who can write ConfigMaps there) prunes only what
// carries the sync's labels, and is put back by the next WriteInventory.
func TestAttackForgedInventoryPrunesForeignObjects(t *testing.T) {
	ctx := context.Background()
	const ns = "forged-inv"
	foreign := victims(t, "forged-victim", "forged-victim-role")

	for _, policy := range []deploy.AdoptPolicy{deploy.AdoptUnowned, deploy.AdoptAlways} {
		t.Run("artifact ships the inventory, adopt "+string(policy), func(t *testing.T) {
			m := syncManager(t, ns, "app", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Adopt: policy}})
			set := append(configMaps(t, ns, "a"), forgedInventory(ns, "app", foreign))
			cs, err := m.ApplyAllStaged(ctx, set)
			wantRefused(t, cs, err, errdef.ErrPolicyViolation, "ConfigMap/"+ns+"/"+deploy.InventoryName("app"))
			if !gone(t, nsGVR, "", ns) {
				t.Errorf("namespace %s was created although the set was refused", ns)
			}
			// Another sync's inventory, in another namespace, likewise.
			set = append(configMaps(t, ns, "a"), forgedInventory("forged-victim", "other", foreign))
			cs, err = m.ApplyAllStaged(ctx, set)
			wantRefused(t, cs, err, errdef.ErrPolicyViolation, "ConfigMap/forged-victim/"+deploy.InventoryName("other"))
			if _, err := m.Diff(ctx, set, nil); !errors.Is(err, errdef.ErrPolicyViolation) {
				t.Errorf("Diff of the set: err = %v, want ErrPolicyViolation", err)
			}
		})
	}

	t.Run("inventory forged in the cluster", func(t *testing.T) {
		m := syncManager(t, ns, "app", deploy.ManagerOptions{})
		set := configMaps(t, ns, "a", "b")
		cs, err := m.ApplyAllStaged(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		real := cs.Inventory()
		if err := m.WriteInventory(ctx, real); err != nil {
			t.Fatal(err)
		}
		// Rewritten behind sealift's back, the record keeps its labels.
		forged := deploy.NewInventory(append(real, foreign...)...)
		if _, err := dyn(t).Resource(cmGVR).Namespace(ns).Apply(ctx, deploy.InventoryName("app"), forgedInventory(ns, "app", forged),
			metav1.ApplyOptions{FieldManager: "intruder", Force: true}); err != nil {
			t.Fatal(err)
		}
		old, _, err := m.ReadInventory(ctx)
		if err != nil || len(old) != len(forged) {
			t.Fatalf("ReadInventory = %v, %v; want the forged record", old, err)
		}
		cs, err = m.ApplyAllStaged(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		pruned, err := m.Prune(ctx, old, cs.Inventory(), deploy.PruneOptions{MaxPercent: deploy.Unlimited})
		if err != nil {
			t.Fatal(err)
		}
		wantActions(t, pruned, map[string]deploy.Action{
			"ConfigMap/forged-victim/precious": deploy.ActionSkipped,
			"ClusterRole/forged-victim-role":   deploy.ActionSkipped,
		})
		if !strings.Contains(pruned.String(), "does not carry the sync's ownership labels") {
			t.Errorf("skips do not say why:\n%s", pruned)
		}
		if gone(t, cmGVR, "forged-victim", "precious") || gone(t, crGVR, "", "forged-victim-role") {
			t.Fatal("prune deleted an object the sync never labelled")
		}
		next := deploy.NextInventory(old, cs.Inventory(), pruned)
		if !next.Contains(real[0]) || next.Contains(foreign[0]) || next.Contains(foreign[1]) {
			t.Errorf("next inventory %v, want the applied objects only", next)
		}
		// WriteInventory compares with the record in the cluster, not with
		// what the caller read: the same inventory as before puts it back.
		if _, err := dyn(t).Resource(cmGVR).Namespace(ns).Apply(ctx, deploy.InventoryName("app"), forgedInventory(ns, "app", forged),
			metav1.ApplyOptions{FieldManager: "intruder", Force: true}); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteInventory(ctx, real); err != nil {
			t.Fatal(err)
		}
		if got, _, err := m.ReadInventory(ctx); err != nil || len(got) != len(real) || got.Contains(foreign[0]) {
			t.Errorf("record after WriteInventory = %v, %v; want %v", got, err, real)
		}
	})

	t.Run("prune without an owner", func(t *testing.T) {
		_, err := newManager(t, deploy.ManagerOptions{}).Prune(ctx, foreign, nil, deploy.PruneOptions{AllowEmpty: true})
		if !errors.Is(err, errdef.ErrPolicyViolation) {
			t.Fatalf("err = %v, want ErrPolicyViolation", err)
		}
		if gone(t, cmGVR, "forged-victim", "precious") {
			t.Fatal("an ownerless prune deleted an object")
		}
	})
}

const escapeSet = `apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  namespace: anywhere
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: NS-is-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- kind: ServiceAccount
  name: default
  namespace: NS`

// TestAttackTargetNamespaceEscapesToClusterAdmin: a team's sync confined to
// its namespace must not bind itself to cluster-admin with a
// ClusterRoleBinding unless the sync explicitly allows cluster-scoped
// objects.
func TestAttackTargetNamespaceEscapesToClusterAdmin(t *testing.T) {
	ctx := context.Background()
	const ns = "team-a"
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, objects(t, ns, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS")); err != nil {
		t.Fatal(err)
	}
	m := syncManager(t, ns, "app", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{TargetNamespace: ns}})
	cs, err := m.ApplyAllStaged(ctx, objects(t, ns, escapeSet))
	wantRefused(t, cs, err, errdef.ErrPolicyViolation, "ClusterRoleBinding/team-a-is-admin")
	if !strings.Contains(err.Error(), "target namespace") {
		t.Errorf("error does not say why: %v", err)
	}
	if !gone(t, crbGVR, "", "team-a-is-admin") || exists(t, ns, "app") {
		t.Fatal("a confined sync applied objects of a refused set")
	}

	allowed := syncManager(t, ns, "app", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{TargetNamespace: ns, AllowClusterScoped: true}})
	cs, err = allowed.ApplyAllStaged(ctx, objects(t, ns, escapeSet))
	if err != nil {
		t.Fatalf("with cluster-scoped objects allowed: %v", err)
	}
	wantActions(t, cs, map[string]deploy.Action{
		"ClusterRoleBinding/team-a-is-admin": deploy.ActionCreated,
		"ConfigMap/team-a/app":               deploy.ActionCreated,
	})
}

// TestAttackAdoptPlatformClusterRole: a sync must not silently take over an
// existing cluster-scoped object (a platform ClusterRole) that no sync
// owns; only adopt policy "adopt" does, and says so.
func TestAttackAdoptPlatformClusterRole(t *testing.T) {
	ctx := context.Background()
	const role = "platform-view"
	platform := objects(t, "", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: `+role+`
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get]`)
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, platform); err != nil {
		t.Fatal(err)
	}
	takeover := objects(t, "", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: `+role+`
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]`)
	// An unowned namespaced object is still adopted by default, in the
	// same set: only the cluster-scoped one is refused.
	takeover = append(takeover, configMaps(t, "adopt-platform", "existing")[1:]...)
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, configMaps(t, "adopt-platform", "existing")); err != nil {
		t.Fatal(err)
	}

	m := syncManager(t, "adopt-platform", "app", deploy.ManagerOptions{})
	cs, err := m.ApplyAllStaged(ctx, takeover)
	wantRefused(t, cs, err, errdef.ErrPolicyViolation, "ClusterRole/"+role)
	if !strings.Contains(err.Error(), "cluster-scoped") || strings.Contains(err.Error(), "ConfigMap/") {
		t.Errorf("err = %v, want only the ClusterRole refused, as cluster-scoped", err)
	}
	live, err := dyn(t).Resource(crGVR).Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rules, _, _ := unstructured.NestedSlice(live.Object, "rules"); len(rules) != 1 || strings.Contains(jsonOf(t, rules), `"*"`) {
		t.Fatalf("the platform ClusterRole was changed: %v", rules)
	}

	cs, err = syncManager(t, "adopt-platform", "app", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Adopt: deploy.AdoptAlways}}).ApplyAllStaged(ctx, takeover)
	if err != nil {
		t.Fatalf("adopt policy adopt: %v", err)
	}
	for _, ch := range cs.Changes {
		if !ch.Adopted {
			t.Errorf("%s not reported as adopted: %+v", ch.Object, cs.Changes)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAttackDiffPrintsSecretValues: `sealift diff` must never print a
// Secret's values, live or applied, nor the copies kubectl keeps of them;
// it shows, as kubectl diff does, that a value changes.
func TestAttackDiffPrintsSecretValues(t *testing.T) {
	ctx := context.Background()
	const ns = "diff-secret"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	values := []string{"live-s3cret-value", "new-s3cret-value", "kept-s3cret-value", "fresh-s3cret-token", "leaving-s3cret-value"}
	// Live, as `kubectl apply` leaves it: the values again in an annotation.
	live := objects(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: NS
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"live-s3cret-value","kept":"kept-s3cret-value"}}'
data:
  password: `+b64("live-s3cret-value")+`
  kept: `+b64("kept-s3cret-value"))
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, live); err != nil {
		t.Fatal(err)
	}
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	leaving := objects(t, ns, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leaving\n  namespace: NS\nstringData:\n  v: leaving-s3cret-value")
	cs, err := m.ApplyAllStaged(ctx, leaving)
	if err != nil {
		t.Fatal(err)
	}
	set := objects(t, ns, `apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: NS
stringData:
  password: new-s3cret-value
  kept: kept-s3cret-value
---
apiVersion: v1
kind: Secret
metadata:
  name: fresh
  namespace: NS
data:
  token: `+b64("fresh-s3cret-token"))
	diffs, err := m.Diff(ctx, set, cs.Inventory())
	if err != nil {
		t.Fatal(err)
	}
	if got := diffActions(diffs); got["Secret/"+ns+"/creds"] != deploy.DiffUpdate || got["Secret/"+ns+"/fresh"] != deploy.DiffCreate ||
		got["Secret/"+ns+"/leaving"] != deploy.DiffDelete {
		t.Fatalf("diff actions = %v", got)
	}
	out := jsonOf(t, diffs)
	for _, d := range diffs {
		out += d.Diff
	}
	for _, v := range values {
		if strings.Contains(out, v) || strings.Contains(out, b64(v)) {
			t.Errorf("the diff shows the secret value %q:\n%s", v, out)
		}
	}
	for _, d := range diffs {
		if d.Object == "Secret/"+ns+"/creds" && (!strings.Contains(d.Diff, "-  password: '*** (before)'") || !strings.Contains(d.Diff, "+  password: '*** (after)'") ||
			strings.Contains(d.Diff, "kept: '*** (")) {
			t.Errorf("update diff does not show (only) the changed value as changed:\n%s", d.Diff)
		}
	}
}

const halfSet = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: NS-reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: good
  namespace: NS
data:
  k: v
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: NS
spec:
  replicas: -1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: bad
        image: registry.example/bad:1.0`

// TestAttackInvalidObjectHalfAppliesRevision: a revision with one object the
// API server refuses must apply nothing, rather than leave the valid objects
// applied and unrecorded. Where the namespace is created by the set itself,
// the objects in it are checked before any of them is written, and the
// ChangeSet returned with the error holds what was created.
func TestAttackInvalidObjectHalfAppliesRevision(t *testing.T) {
	ctx := context.Background()
	t.Run("namespace exists", func(t *testing.T) {
		const ns = "half-applied"
		if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, objects(t, ns, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS")); err != nil {
			t.Fatal(err)
		}
		cs, err := syncManager(t, ns, "app", deploy.ManagerOptions{}).ApplyAllStaged(ctx, objects(t, ns, halfSet))
		wantRefused(t, cs, err, errdef.ErrInvalidObject, "Deployment/"+ns+"/bad")
		if !strings.Contains(err.Error(), "spec.replicas") {
			t.Errorf("error does not name the field: %v", err)
		}
		if !gone(t, crGVR, "", ns+"-reader") || exists(t, ns, "good") {
			t.Fatal("objects of a refused revision were applied")
		}
	})
	t.Run("namespace created by the set", func(t *testing.T) {
		const ns = "half-applied-new"
		set := append(objects(t, ns, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS"), objects(t, ns, halfSet)[1:]...)
		cs, err := syncManager(t, ns, "app", deploy.ManagerOptions{}).ApplyAllStaged(ctx, set)
		var ae *deploy.ApplyError
		if !errors.Is(err, errdef.ErrInvalidObject) || !errors.As(err, &ae) || ae.Object != "Deployment/"+ns+"/bad" {
			t.Fatalf("err = %v, want ErrInvalidObject for Deployment/%s/bad", err, ns)
		}
		wantActions(t, cs, map[string]deploy.Action{"Namespace/" + ns: deploy.ActionCreated})
		if exists(t, ns, "good") {
			t.Fatal("stage 2 was half applied")
		}
	})
}
