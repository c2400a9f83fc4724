package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/deploy"
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
