package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AnnotationAppliedHash records, on every object sealift applies, a hash of
// the object as sealift last applied it. With it, an unchanged object is
// recognised from a listing alone, without a request of its own.
const AnnotationAppliedHash = "sealift.dev/applied-hash"

const (
	// prefetchMin is the number of objects of one resource in one namespace
	// from which the live objects are listed instead of read one by one.
	prefetchMin = 4
	// prefetchPage bounds a list page: big enough to list a namespace of a
	// large app in a few requests, small enough to keep each response cheap.
	prefetchPage = 500
)

// stampHash sets AnnotationAppliedHash on obj to the hash of obj without it.
func stampHash(obj *unstructured.Unstructured) error {
	ann := obj.GetAnnotations()
	delete(ann, AnnotationAppliedHash)
	if len(ann) == 0 {
		ann = nil
	}
	obj.SetAnnotations(ann)
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	sum := sha256.Sum256(b)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationAppliedHash] = hex.EncodeToString(sum[:16])
	obj.SetAnnotations(ann)
	return nil
}

// unchangedLocally reports, without asking the API server, that applying obj
// to live would change nothing: live carries the hash of exactly obj (so
// the set of fields sealift applies is the same as last time, and no field
// it owned would be dropped), and every field obj sets has the same value in
// live (so nobody changed one since). Any doubt answers false, and the
// caller falls back to a dry-run apply.
func unchangedLocally(obj, live *unstructured.Unstructured) bool {
	want := obj.GetAnnotations()[AnnotationAppliedHash]
	return want != "" && live.GetAnnotations()[AnnotationAppliedHash] == want &&
		live.GetDeletionTimestamp() == nil && subset(obj.Object, live.Object)
}

// subset reports whether every value set in a is set to the same value in b;
// lists must have the same length and match element by element.
func subset(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return false
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok || !subset(x, y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !subset(av[i], bv[i]) {
				return false
			}
		}
		return true
	case int64, float64, int, int32:
		x, ok1 := number(a)
		y, ok2 := number(b)
		return ok1 && ok2 && x == y
	default:
		return a == b
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// prefetch lists, per resource and namespace holding at least prefetchMin
// objects of the stage, the live objects, and records on each plan whether
// its object exists. A list that fails (RBAC may grant get but not list)
// leaves its plans to be read one by one.
func (m *Manager) prefetch(ctx context.Context, stage []*planned) {
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	groups := map[group][]*planned{}
	for _, p := range stage {
		if p.deferred {
			continue
		}
		g := group{p.gvr, p.obj.GetNamespace()}
		groups[g] = append(groups[g], p)
	}
	var eg errgroup.Group
	eg.SetLimit(m.concurrency)
	for g, plans := range groups {
		if len(plans) < prefetchMin {
			continue
		}
		eg.Go(func() error {
			live := map[string]*unstructured.Unstructured{}
			r := m.client.Resource(g.gvr)
			opts := metav1.ListOptions{Limit: prefetchPage}
			for {
				var (
					list *unstructured.UnstructuredList
					err  error
				)
				if g.ns != "" {
					list, err = r.Namespace(g.ns).List(ctx, opts)
				} else {
					list, err = r.List(ctx, opts)
				}
				if err != nil {
					return nil // read one by one instead
				}
				for i := range list.Items {
					live[list.Items[i].GetName()] = &list.Items[i]
				}
				if opts.Continue = list.GetContinue(); opts.Continue == "" {
					break
				}
			}
			for _, p := range plans {
				p.live, p.known = live[p.obj.GetName()], true
			}
			return nil
		})
	}
	_ = eg.Wait()
}
