package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
)

func TestParseObjectRef(t *testing.T) {
	tests := []struct {
		in      string
		want    deploy.ObjectRef
		wantErr bool
	}{
		{in: "ConfigMap/ns/a", want: deploy.ObjectRef{Kind: "ConfigMap", Namespace: "ns", Name: "a"}},
		{in: "Deployment.apps/ns/web", want: deploy.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web"}},
		{in: "CustomResourceDefinition.apiextensions.k8s.io/widgets.sealift.test",
			want: deploy.ObjectRef{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets.sealift.test"}},
		{in: "Namespace/apps", want: deploy.ObjectRef{Kind: "Namespace", Name: "apps"}},
		{in: "ConfigMap", wantErr: true},
		{in: "ConfigMap//a", wantErr: true},
		{in: "/ns/a", wantErr: true},
		{in: "a/b/c/d", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := deploy.ParseObjectRef(tc.in)
			if tc.wantErr {
				if !errors.Is(err, errdef.ErrInvalidObject) {
					t.Fatalf("ParseObjectRef(%q) = %v, %v; want ErrInvalidObject", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseObjectRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func FuzzParseObjectRef(f *testing.F) {
	for _, s := range []string{"ConfigMap/ns/a", "Deployment.apps/ns/web", "Namespace/x", "//", "a.b.c/d/e/f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := deploy.ParseObjectRef(s)
		if err != nil {
			return
		}
		back, err := deploy.ParseObjectRef(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestInventorySetOperations(t *testing.T) {
	a := deploy.ObjectRef{Kind: "ConfigMap", Namespace: "n", Name: "a"}
	b := deploy.ObjectRef{Kind: "ConfigMap", Namespace: "n", Name: "b"}
	c := deploy.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "n", Name: "c"}
	old := deploy.NewInventory(c, a, b, a)
	if len(old) != 3 || !old.Contains(b) {
		t.Fatalf("NewInventory = %v, want 3 distinct entries holding b", old)
	}
	if got := old.Minus(deploy.NewInventory(a, c)); !slices.Equal(got, deploy.Inventory{b}) {
		t.Errorf("Minus = %v, want [b]", got)
	}
	parsed, err := deploy.ParseInventory(old.Strings())
	if err != nil || !slices.Equal(parsed, old) {
		t.Errorf("ParseInventory(Strings()) = %v, %v; want %v", parsed, err, old)
	}
	// A failed delete keeps its entry; deleted and skipped ones leave.
	pruned := &deploy.ChangeSet{Changes: []deploy.Change{{Ref: b, Action: deploy.ActionDeleted}}}
	if got := deploy.NextInventory(old, deploy.NewInventory(a), pruned); !slices.Equal(got, deploy.NewInventory(a, c)) {
		t.Errorf("NextInventory = %v, want [a c]", got)
	}
}

// syncManager returns a Manager that applies as the sync ns/name.
func syncManager(t *testing.T, ns, name string, opts deploy.ManagerOptions) *deploy.Manager {
	t.Helper()
	opts.Owner = deploy.Owner{Namespace: ns, Name: name}
	return newManager(t, opts)
}

// applyAndRecord applies the set, prunes what left it and records the
// inventory, as a reconcile does.
func applyAndRecord(t *testing.T, m *deploy.Manager, objs []*unstructured.Unstructured, opts deploy.PruneOptions) (*deploy.ChangeSet, error) {
	t.Helper()
	ctx := context.Background()
	cs, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	old, _, err := m.ReadInventory(ctx)
	if err != nil {
		t.Fatalf("read inventory: %v", err)
	}
	pruned, pruneErr := m.Prune(ctx, old, cs.Inventory(), opts)
	if err := m.WriteInventory(ctx, deploy.NextInventory(old, cs.Inventory(), pruned)); err != nil {
		t.Fatalf("write inventory: %v", err)
	}
	return pruned, pruneErr
}

func exists(t *testing.T, ns, name string) bool {
	t.Helper()
	_, err := dyn(t).Resource(cmGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// configMaps returns a Namespace and ConfigMaps named names in it.
func configMaps(t *testing.T, ns string, names ...string) []*unstructured.Unstructured {
	docs := []string{"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS"}
	for _, n := range names {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: NS\ndata:\n  k: v", n))
	}
	return objects(t, ns, strings.Join(docs, "\n---\n"))
}

func TestInventoryIsKeptInTheCluster(t *testing.T) {
	ctx := context.Background()
	const ns = "inv-store"
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	if _, err := m.ApplyAllStaged(ctx, configMaps(t, ns)); err != nil {
		t.Fatal(err)
	}
	if inv, found, err := m.ReadInventory(ctx); err != nil || found || len(inv) != 0 {
		t.Fatalf("ReadInventory before any write = %v, %v, %v; want empty, not found", inv, found, err)
	}
	want := deploy.NewInventory(
		deploy.ObjectRef{Kind: "Namespace", Name: ns},
		deploy.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "web"},
	)
	if err := m.WriteInventory(ctx, want); err != nil {
		t.Fatal(err)
	}
	// A second Manager (a restarted engine with a lost cache) reads it back.
	got, found, err := syncManager(t, ns, "app", deploy.ManagerOptions{}).ReadInventory(ctx)
	if err != nil || !found || !slices.Equal(got, want) {
		t.Fatalf("ReadInventory = %v, %v, %v; want %v", got, found, err, want)
	}
	cm, err := dyn(t).Resource(cmGVR).Namespace(ns).Get(ctx, deploy.InventoryName("app"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := cm.GetLabels(); l[deploy.LabelSyncName] != "app" || l[deploy.LabelSyncNamespace] != ns {
		t.Errorf("inventory ConfigMap labels = %v", l)
	}
}

func TestPruneDeletesWhatLeftTheArtifact(t *testing.T) {
	const ns = "prune-basic"
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	if _, err := applyAndRecord(t, m, configMaps(t, ns, "a", "b", "c"), deploy.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	live, err := dyn(t).Resource(cmGVR).Namespace(ns).Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := live.GetLabels(); l[deploy.LabelSyncName] != "app" || l[deploy.LabelSyncNamespace] != ns {
		t.Errorf("applied object lacks the ownership labels: %v", l)
	}

	pruned, err := applyAndRecord(t, m, configMaps(t, ns, "a", "b"), deploy.PruneOptions{})
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	wantActions(t, pruned, map[string]deploy.Action{"ConfigMap/" + ns + "/c": deploy.ActionDeleted})
	if exists(t, ns, "c") || !exists(t, ns, "a") || !exists(t, ns, "b") {
		t.Errorf("after prune: a=%v b=%v c=%v, want a and b only", exists(t, ns, "a"), exists(t, ns, "b"), exists(t, ns, "c"))
	}
	inv, _, err := m.ReadInventory(context.Background())
	if err != nil || len(inv) != 3 {
		t.Errorf("inventory after prune = %v, %v; want Namespace, a, b", inv, err)
	}
}

func TestPruneSafetyRails(t *testing.T) {
	tests := []struct {
		name      string
		keep      []string // ConfigMaps left in the artifact, of a..d
		empty     bool     // the artifact renders to nothing at all
		opts      deploy.PruneOptions
		wantErr   string
		wantGone  []string
		wantStays []string
	}{
		{name: "empty artifact never prunes", empty: true, wantErr: "empty", wantStays: []string{"a", "b", "c", "d"}},
		{name: "over the default percentage", keep: []string{"a"}, wantErr: "budget of 50%", wantStays: []string{"b", "c", "d"}},
		{name: "over the count budget", keep: []string{"a", "b"}, opts: deploy.PruneOptions{MaxDeletes: 1}, wantErr: "budget of 1", wantStays: []string{"c", "d"}},
		{name: "within budget", keep: []string{"a", "b", "c"}, opts: deploy.PruneOptions{MaxDeletes: 1}, wantGone: []string{"d"}},
		{name: "budget lifted", keep: []string{"a"}, opts: deploy.PruneOptions{MaxPercent: deploy.Unlimited}, wantGone: []string{"b", "c", "d"}},
		{name: "empty allowed", empty: true, opts: deploy.PruneOptions{AllowEmpty: true}, wantGone: []string{"a", "b", "c", "d"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := fmt.Sprintf("prune-rails-%d", i)
			m := syncManager(t, ns, "app", deploy.ManagerOptions{})
			if _, err := applyAndRecord(t, m, configMaps(t, ns, "a", "b", "c", "d"), deploy.PruneOptions{}); err != nil {
				t.Fatal(err)
			}
			old, _, err := m.ReadInventory(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var next deploy.Inventory
			if !tc.empty {
				cs, err := m.ApplyAllStaged(ctx, configMaps(t, ns, tc.keep...))
				if err != nil {
					t.Fatal(err)
				}
				next = cs.Inventory()
			}
			pruned, err := m.Prune(ctx, old, next, tc.opts)
			if tc.wantErr != "" {
				if !errors.Is(err, errdef.ErrPolicyViolation) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Prune err = %v, want a policy violation saying %q", err, tc.wantErr)
				}
				if len(pruned.Changes) != 0 {
					t.Errorf("refused prune still changed %v", pruned.Changes)
				}
				if got := deploy.NextInventory(old, next, pruned); !slices.Equal(got, old) {
					t.Errorf("NextInventory after a refusal = %v, want the old inventory %v", got, old)
				}
			} else if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			for _, n := range tc.wantGone {
				if exists(t, ns, n) {
					t.Errorf("ConfigMap %s still exists", n)
				}
			}
			for _, n := range tc.wantStays {
				if !exists(t, ns, n) {
					t.Errorf("ConfigMap %s was deleted", n)
				}
			}
		})
	}
}

func TestPruneLeavesOptedOutAndForeignObjects(t *testing.T) {
	ctx := context.Background()
	const ns = "prune-optout"
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	set := configMaps(t, ns, "keep", "gone", "taken", "stay1", "stay2", "stay3")
	set[1].SetAnnotations(map[string]string{deploy.AnnotationPrune: deploy.PruneDisabled})
	if _, err := applyAndRecord(t, m, set, deploy.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another sync takes "taken" over.
	other := syncManager(t, ns, "other", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Adopt: deploy.AdoptAlways}})
	if _, err := other.ApplyAllStaged(ctx, configMaps(t, ns, "taken")[1:]); err != nil {
		t.Fatal(err)
	}
	pruned, err := applyAndRecord(t, m, configMaps(t, ns, "stay1", "stay2", "stay3"), deploy.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantActions(t, pruned, map[string]deploy.Action{
		"ConfigMap/" + ns + "/keep":  deploy.ActionSkipped,
		"ConfigMap/" + ns + "/gone":  deploy.ActionDeleted,
		"ConfigMap/" + ns + "/taken": deploy.ActionSkipped,
	})
	if !exists(t, ns, "keep") || !exists(t, ns, "taken") || exists(t, ns, "gone") {
		t.Errorf("keep=%v taken=%v gone=%v; want keep and taken only", exists(t, ns, "keep"), exists(t, ns, "taken"), exists(t, ns, "gone"))
	}
	s := pruned.String()
	if !strings.Contains(s, deploy.AnnotationPrune) || !strings.Contains(s, "owned by sync "+ns+"/other") {
		t.Errorf("change set does not say why objects were skipped:\n%s", s)
	}
}

func TestPruneNamespacesAndCRDsOnlyWithOwnershipLabels(t *testing.T) {
	ctx := context.Background()
	const ns = "prune-defs"
	m := syncManager(t, ns, "app", deploy.ManagerOptions{})
	// The Namespace "prune-defs-foreign" and the CRD exist before the sync and
	// are in its old inventory, but the sync never labelled them.
	foreign := objects(t, ns+"-foreign", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS")
	crd := objects(t, ns, strings.NewReplacer("widget", "gizmo", "Widget", "Gizmo").Replace(strings.Split(crdSet, "\n---\n")[0]))
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, append(foreign, crd...)); err != nil {
		t.Fatal(err)
	}
	cs, err := m.ApplyAllStaged(ctx, configMaps(t, ns, "a"))
	if err != nil {
		t.Fatal(err)
	}
	old := deploy.NewInventory(append(cs.Inventory(),
		deploy.RefOf(foreign[0]), deploy.RefOf(crd[0]),
		deploy.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: "a"})...)
	// Drop everything but the ConfigMap: the labelled Namespace prune-defs
	// goes, the foreign Namespace and the CRD stay.
	pruned, err := m.Prune(ctx, old, deploy.NewInventory(deploy.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: "a"}), deploy.PruneOptions{MaxPercent: deploy.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	wantActions(t, pruned, map[string]deploy.Action{
		"Namespace/" + ns:                              deploy.ActionDeleted,
		"Namespace/" + ns + "-foreign":                 deploy.ActionSkipped,
		"CustomResourceDefinition/gizmos.sealift.test": deploy.ActionSkipped,
	})
	// The controller manager empties the namespace and lets it go.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := dyn(t).Resource(nsGVR).Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("pruned namespace %s still there: %v", ns, err)
	}
	if _, err := dyn(t).Resource(nsGVR).Get(ctx, ns+"-foreign", metav1.GetOptions{}); err != nil {
		t.Errorf("foreign namespace: %v", err)
	}
}

func TestAdoptionPolicy(t *testing.T) {
	tests := []struct {
		name        string
		policy      deploy.AdoptPolicy
		otherSync   bool // the object carries another sync's labels
		wantAdopted bool
		wantErr     string
	}{
		{name: "default adopts an unowned object", wantAdopted: true},
		{name: "default refuses another sync's object", otherSync: true, wantErr: "belongs to sync"},
		{name: "refuse", policy: deploy.AdoptNever, wantErr: "not created by sync"},
		{name: "adopt takes over another sync's object", policy: deploy.AdoptAlways, otherSync: true, wantAdopted: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns := fmt.Sprintf("adopt-%d", i)
			set := configMaps(t, ns, "existing")
			creator := newManager(t, deploy.ManagerOptions{})
			if tc.otherSync {
				creator = syncManager(t, ns, "other", deploy.ManagerOptions{})
			}
			if _, err := creator.ApplyAllStaged(ctx, set); err != nil {
				t.Fatal(err)
			}
			m := syncManager(t, ns, "app", deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Adopt: tc.policy}})
			cs, err := m.ApplyAllStaged(ctx, set[1:])
			if tc.wantErr != "" {
				var ae *deploy.ApplyError
				if !errors.Is(err, errdef.ErrPolicyViolation) || !errors.As(err, &ae) || ae.Object != "ConfigMap/"+ns+"/existing" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a policy violation for ConfigMap/%s/existing saying %q", err, ns, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cs.Changes) != 1 || cs.Changes[0].Adopted != tc.wantAdopted || !strings.Contains(cs.String(), "adopted") {
				t.Errorf("changes = %+v, want one adopted change", cs.Changes)
			}
			// Once adopted the object is the sync's own.
			cs, err = m.ApplyAllStaged(ctx, set[1:])
			if err != nil || cs.Changes[0].Adopted || cs.Changes[0].Action != deploy.ActionUnchanged {
				t.Errorf("re-apply = %+v, %v; want unchanged and not adopted again", cs.Changes, err)
			}
		})
	}
}
