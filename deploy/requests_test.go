package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
)

// countingConfig returns a copy of env.Config that counts its requests and,
// among them, the writes (mutating requests that are not dry runs).
func countingConfig(requests, writes *atomic.Int64) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			requests.Add(1)
			if req.Method != http.MethodGet && !strings.Contains(req.URL.RawQuery, "dryRun=All") {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

// numbered returns n names prefix-00, prefix-01, ...
func numbered(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return names
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestReapplyOfUnchangedObjectsIsCheap(t *testing.T) {
	ctx := context.Background()
	const ns = "cheap"
	set := configMaps(t, ns, numbered("cm", 40)...)
	if _, err := syncManager(t, ns, "app", deploy.ManagerOptions{}).ApplyAllStaged(ctx, set); err != nil {
		t.Fatal(err)
	}
	var requests, writes atomic.Int64
	m, err := deploy.NewManager(countingConfig(&requests, &writes), deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: "app", Namespace: ns}}})
	if err != nil {
		t.Fatal(err)
	}
	// Warm discovery, which a long-lived Manager does once.
	if _, err := m.ApplyAllStaged(ctx, set); err != nil {
		t.Fatal(err)
	}
	requests.Store(0)
	writes.Store(0)
	cs, err := m.ApplyAllStaged(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Count(deploy.ActionUnchanged); got != len(set) {
		t.Errorf("%d of %d unchanged", got, len(set))
	}
	// One list of the ConfigMaps, one read of the Namespace.
	if r, w := requests.Load(), writes.Load(); w != 0 || r > 2 {
		t.Errorf("re-apply of %d unchanged objects: %d requests, %d writes; want at most 2 and none", len(set), r, w)
	}

	// Drift the listing path must still see: a field sealift owns removed,
	// and one changed, by another manager.
	c := dyn(t).Resource(cmGVR).Namespace(ns)
	if _, err := c.Patch(ctx, "cm-00", types.MergePatchType, []byte(`{"data":{"k":null}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Patch(ctx, "cm-01", types.MergePatchType, []byte(`{"data":{"k":"changed"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	writes.Store(0)
	cs, err = m.ApplyAllStaged(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	got := actions(cs)
	if got["ConfigMap/"+ns+"/cm-00"] != deploy.ActionConfigured || got["ConfigMap/"+ns+"/cm-01"] != deploy.ActionConfigured ||
		cs.Count(deploy.ActionUnchanged) != len(set)-2 || writes.Load() != 2 {
		t.Errorf("after two edits: %d writes, changes %v", writes.Load(), cs.Changes)
	}
}

func TestCreateCostsADryRunAndAnApplyPerObject(t *testing.T) {
	ctx := context.Background()
	const ns = "create-cost"
	set := configMaps(t, ns, numbered("cm", 40)...)

	var mu sync.Mutex
	kinds := map[string]int{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			var kind string
			switch {
			case req.Method == http.MethodGet && (req.URL.Path == "/api" || req.URL.Path == "/apis"):
				kind = "discovery"
			case req.Method == http.MethodGet:
				kind = "read"
			case req.Method == http.MethodPatch && strings.Contains(req.URL.RawQuery, "dryRun=All"):
				kind = "dry run"
			case req.Method == http.MethodPatch && strings.Contains(req.Header.Get("Accept"), "as=PartialObjectMetadata"):
				kind = "apply, metadata in reply"
			default:
				kind = req.Method + " " + req.URL.Path
			}
			mu.Lock()
			kinds[kind]++
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	m, err := deploy.NewManager(cfg, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: "app", Namespace: ns}}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := m.ApplyAllStaged(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Count(deploy.ActionCreated); got != len(set) {
		t.Fatalf("%d of %d created: %v", got, len(set), cs.Changes)
	}
	// One dry run (the whole set is validated before the first write:
	// the Namespace first, the ConfigMaps in it once it exists) and one
	// apply per object; one read of the Namespace (alone in its stage) and
	// one list of the ConfigMaps; nothing else but discovery.
	delete(kinds, "discovery")
	want := map[string]int{"dry run": len(set), "apply, metadata in reply": len(set), "read": 2}
	if !maps.Equal(kinds, want) {
		t.Errorf("requests to create %d objects: %v, want %v", len(set), kinds, want)
	}

	// The metadata-only reply must not cost the object anything.
	live, err := dyn(t).Resource(cmGVR).Namespace(ns).Get(ctx, "cm-07", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applied := false
	for _, mf := range live.GetManagedFields() {
		applied = applied || (mf.Manager == deploy.FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply)
	}
	if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != "v" || !applied ||
		live.GetLabels()[deploy.LabelSyncName] != "app" || live.GetAnnotations()[deploy.AnnotationAppliedHash] == "" {
		t.Errorf("created object: data.k %q, applied by %s: %v, labels %v, annotations %v",
			v, deploy.FieldOwner, applied, live.GetLabels(), live.GetAnnotations())
	}
}

// requestKinds returns a copy of env.Config that sorts its requests (but
// discovery) into reads, dry runs and writes, counted in kinds.
func requestKinds(mu *sync.Mutex, kinds map[string]int) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			var kind string
			switch {
			case req.Method == http.MethodGet && (req.URL.Path == "/api" || req.URL.Path == "/apis" || strings.Count(req.URL.Path, "/") <= 3):
				kind = "discovery"
			case req.Method == http.MethodGet:
				kind = "read"
			case strings.Contains(req.URL.RawQuery, "dryRun=All"):
				kind = "dry run"
			default:
				kind = "write"
			}
			mu.Lock()
			kinds[kind]++
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

func TestApplyOverPresumesObjectsMissingFromTheInventoryNew(t *testing.T) {
	ctx := context.Background()
	const ns = "presume-new"
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, configMaps(t, ns)); err != nil {
		t.Fatal(err)
	}
	// Three ConfigMaps: fewer than are listed at once, so each would be
	// read on its own.
	set := configMaps(t, ns, "a", "b", "c")[1:]
	var mu sync.Mutex
	kinds := map[string]int{}
	m, err := deploy.NewManager(requestKinds(&mu, kinds), deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: "app", Namespace: ns}}})
	if err != nil {
		t.Fatal(err)
	}
	// "c" was applied before: it is read first, and found missing.
	cs, err := m.ApplyAllStagedOver(ctx, set, deploy.NewInventory(deploy.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: "c"}))
	if err != nil {
		t.Fatal(err)
	}
	wantActions(t, cs, map[string]deploy.Action{"ConfigMap/" + ns + "/a": deploy.ActionCreated,
		"ConfigMap/" + ns + "/b": deploy.ActionCreated, "ConfigMap/" + ns + "/c": deploy.ActionCreated})
	delete(kinds, "discovery")
	if want := map[string]int{"dry run": 3, "write": 3, "read": 1}; !maps.Equal(kinds, want) {
		t.Errorf("requests to create 3 objects, 2 presumed new: %v, want %v", kinds, want)
	}

	// Presumed new wrongly (the inventory lost): every object exists and
	// is unchanged, and nothing is written.
	clear(kinds)
	cs, err = m.ApplyAllStagedOver(ctx, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Count(deploy.ActionUnchanged); got != len(set) {
		t.Errorf("%d of %d unchanged after presuming them new: %v", got, len(set), cs.Changes)
	}
	delete(kinds, "discovery")
	if want := map[string]int{"dry run": 3, "read": 3}; !maps.Equal(kinds, want) {
		t.Errorf("requests to re-apply 3 objects presumed new: %v, want %v", kinds, want)
	}

	// The adoption policy holds for an object presumed new: another
	// sync's ConfigMap is refused and left as it was, one made by hand is
	// adopted.
	c := dyn(t).Resource(cmGVR).Namespace(ns)
	theirs := configMaps(t, ns, "theirs")[1]
	theirs.SetLabels(map[string]string{deploy.LabelSyncName: "other", deploy.LabelSyncNamespace: ns})
	_ = unstructured.SetNestedField(theirs.Object, "theirs", "data", "k")
	if _, err := c.Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = m.ApplyAllStagedOver(ctx, configMaps(t, ns, "theirs")[1:], nil)
	if !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Errorf("applying over another sync's object presumed new: %v, want %v", err, errdef.ErrPolicyViolation)
	}
	if live, err := c.Get(ctx, "theirs", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != "theirs" || live.GetLabels()[deploy.LabelSyncName] != "other" {
		t.Errorf("another sync's object changed: data.k %q, labels %v", v, live.GetLabels())
	}
	byHand := configMaps(t, ns, "by-hand")[1]
	if _, err := c.Create(ctx, byHand, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs, err = m.ApplyAllStagedOver(ctx, configMaps(t, ns, "by-hand")[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Changes) != 1 || !cs.Changes[0].Adopted || cs.Changes[0].Action != deploy.ActionConfigured {
		t.Errorf("object made by hand, presumed new: %v, want adopted and configured", cs.Changes)
	}
}

func TestReplaceInventoryWritesWithoutReading(t *testing.T) {
	ctx := context.Background()
	const ns = "inv-replace"
	if _, err := newManager(t, deploy.ManagerOptions{}).ApplyAllStaged(ctx, configMaps(t, ns)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	kinds := map[string]int{}
	m, err := deploy.NewManager(requestKinds(&mu, kinds), deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: "app", Namespace: ns}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, inv := range []deploy.Inventory{
		deploy.NewInventory(deploy.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: "a"}),
		deploy.NewInventory(deploy.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: "b"}, deploy.ObjectRef{Kind: "Namespace", Name: ns}),
	} {
		clear(kinds)
		if err := m.ReplaceInventory(ctx, inv); err != nil {
			t.Fatal(err)
		}
		delete(kinds, "discovery")
		if want := map[string]int{"write": 1}; !maps.Equal(kinds, want) {
			t.Errorf("write %d: requests %v, want %v", i, kinds, want)
		}
		got, found, err := m.ReadInventory(ctx)
		if err != nil || !found || !slices.Equal(got, inv) {
			t.Errorf("write %d: read back %v, %v, %v; want %v", i, got, found, err, inv)
		}
	}
	// WriteInventory still reads first, and writes nothing when the record
	// is what it would write.
	got, _, _ := m.ReadInventory(ctx)
	clear(kinds)
	if err := m.WriteInventory(ctx, got); err != nil {
		t.Fatal(err)
	}
	delete(kinds, "discovery")
	if want := map[string]int{"read": 1}; !maps.Equal(kinds, want) {
		t.Errorf("WriteInventory of the same record: requests %v, want %v", kinds, want)
	}
}
