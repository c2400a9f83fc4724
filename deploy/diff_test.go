package deploy_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
)

func diffActions(diffs []deploy.ObjectDiff) map[string]deploy.DiffAction {
	out := map[string]deploy.DiffAction{}
	for _, d := range diffs {
		out[d.Object] = d.Action
	}
	return out
}

func TestDriftDetectThenCorrect(t *testing.T) {
	ctx := context.Background()
	const ns = "drift"
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	set := objects(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
  namespace: NS
data:
  mode: strict
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: old
  namespace: NS`)
	cs, err := m.ApplyAllStaged(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	old := cs.Inventory()

	// A `kubectl edit`-style change of a field the artifact sets.
	c := dyn(t).Resource(cmGVR).Namespace(ns)
	if _, err := c.Patch(ctx, "conf", types.MergePatchType, []byte(`{"data":{"mode":"lax"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	// The next artifact drops "old" and adds "new".
	next := append(set[:2:2], objects(t, ns, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: new\n  namespace: NS\ndata:\n  k: v")...)

	// Detect: report, change nothing.
	diffs, err := m.Diff(ctx, next, old)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	want := map[string]deploy.DiffAction{
		"Namespace/" + ns:           deploy.DiffUnchanged,
		"ConfigMap/" + ns + "/conf": deploy.DiffUpdate,
		"ConfigMap/" + ns + "/new":  deploy.DiffCreate,
		"ConfigMap/" + ns + "/old":  deploy.DiffDelete,
	}
	if got := diffActions(diffs); len(diffs) != len(want) || !maps.Equal(got, want) {
		t.Fatalf("diff actions = %v, want %v", got, want)
	}
	for _, d := range diffs {
		switch d.Object {
		case "ConfigMap/" + ns + "/conf":
			if !strings.Contains(d.Diff, "-  mode: lax\n+  mode: strict") || !slices.Equal(d.TookFrom, []string{"kubectl-edit"}) {
				t.Errorf("update diff (took from %v):\n%s", d.TookFrom, d.Diff)
			}
			if strings.Contains(d.Diff, "managedFields") || strings.Contains(d.Diff, "resourceVersion") {
				t.Errorf("diff shows server bookkeeping:\n%s", d.Diff)
			}
		case "ConfigMap/" + ns + "/new":
			if !strings.Contains(d.Diff, "+  k: v") {
				t.Errorf("create diff:\n%s", d.Diff)
			}
		case "ConfigMap/" + ns + "/old":
			if !strings.Contains(d.Diff, "-  name: old") {
				t.Errorf("delete diff:\n%s", d.Diff)
			}
		case "Namespace/" + ns:
			if d.Diff != "" {
				t.Errorf("unchanged object has a diff:\n%s", d.Diff)
			}
		}
	}
	if got := len(deploy.Drifted(diffs)); got != 3 {
		t.Errorf("Drifted = %d objects, want 3", got)
	}
	live, err := c.Get(ctx, "conf", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mode, _, _ := unstructured.NestedString(live.Object, "data", "mode"); mode != "lax" {
		t.Errorf("Diff changed the cluster: mode = %q", mode)
	}
	if exists(t, ns, "new") || !exists(t, ns, "old") {
		t.Errorf("Diff created or deleted objects")
	}

	// Correct: re-apply; nothing is left to report.
	if _, err := m.ApplyAllStaged(ctx, set); err != nil {
		t.Fatal(err)
	}
	diffs, err = m.Diff(ctx, set, old)
	if err != nil {
		t.Fatal(err)
	}
	if d := deploy.Drifted(diffs); len(d) != 0 {
		t.Errorf("drift after correction: %+v", d)
	}
}

const immutableSet = `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  selector:
    matchLabels: {app: SELECTOR}
  template:
    metadata:
      labels: {app: SELECTOR}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0`

func TestImmutableFieldChange(t *testing.T) {
	tests := []struct {
		name  string
		ns    string
		force bool
	}{
		{name: "refused without force", ns: "immutable-refused"},
		{name: "recreated with force", ns: "immutable-forced", force: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Force: tc.force}})
			if _, err := m.ApplyAllStaged(ctx, objects(t, tc.ns, strings.ReplaceAll(immutableSet, "SELECTOR", "web"))); err != nil {
				t.Fatal(err)
			}
			c := dyn(t).Resource(deployGVR).Namespace(tc.ns)
			before, err := c.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			changed := objects(t, tc.ns, strings.ReplaceAll(immutableSet, "SELECTOR", "web2"))
			cs, err := m.ApplyAllStaged(ctx, changed)
			after, gerr := c.Get(ctx, "web", metav1.GetOptions{})
			if gerr != nil {
				t.Fatal(gerr)
			}
			sel, _, _ := unstructured.NestedString(after.Object, "spec", "selector", "matchLabels", "app")
			if !tc.force {
				var ae *deploy.ApplyError
				if !errors.As(err, &ae) || ae.Object != "Deployment/"+tc.ns+"/web" || !errdef.IsTerminal(err) ||
					!strings.Contains(err.Error(), "immutable field spec.selector") || !strings.Contains(err.Error(), "force") {
					t.Fatalf("err = %v, want a terminal ApplyError for the Deployment naming spec.selector and force", err)
				}
				if after.GetUID() != before.GetUID() || sel != "web" {
					t.Errorf("the Deployment was changed without force")
				}
				return
			}
			if err != nil {
				t.Fatalf("forced apply: %v", err)
			}
			wantActions(t, cs, map[string]deploy.Action{"Namespace/" + tc.ns: deploy.ActionUnchanged, "Deployment/" + tc.ns + "/web": deploy.ActionRecreated})
			if after.GetUID() == before.GetUID() || sel != "web2" {
				t.Errorf("Deployment not recreated: uid %s -> %s, selector %q", before.GetUID(), after.GetUID(), sel)
			}
		})
	}
}

func TestDiffOfANewSetWritesNothing(t *testing.T) {
	ctx := context.Background()
	const ns = "diff-new"
	set := objects(t, ns, strings.NewReplacer("widget", "doodad", "Widget", "Doodad").Replace(crdSet))
	set = append(set, configMaps(t, ns, "conf")[1:]...)
	diffs, err := newManager(t, deploy.ManagerOptions{}).Diff(ctx, set, nil)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	want := map[string]deploy.DiffAction{
		"CustomResourceDefinition/doodads.sealift.test": deploy.DiffCreate,
		"Namespace/" + ns:           deploy.DiffCreate,
		"Doodad/" + ns + "/w1":      deploy.DiffCreate,
		"ConfigMap/" + ns + "/conf": deploy.DiffCreate,
	}
	if got := diffActions(diffs); !maps.Equal(got, want) {
		t.Fatalf("diff actions = %v, want %v", got, want)
	}
	for _, d := range diffs {
		if !strings.Contains(d.Diff, "+  name: ") {
			t.Errorf("%s: create diff does not show the object:\n%s", d.Object, d.Diff)
		}
	}
	if _, err := dyn(t).Resource(nsGVR).Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace after Diff: get = %v, want NotFound", err)
	}
}
