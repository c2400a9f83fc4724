package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// readyWatch follows the objects of one resource in one namespace and
// records when each first became Ready for its current generation (reset
// forgets it, for a new generation).
type readyWatch struct {
	gvr schema.GroupVersionResource
	ns  string

	mu       sync.Mutex
	ready    map[string]time.Time // name -> when it became Ready (zero: not ready)
	notReady map[string]string    // name -> Ready condition's reason and message
	changed  chan struct{}
}

func newReadyWatch(ctx context.Context, dc dynamic.Interface, gvr schema.GroupVersionResource, ns string) *readyWatch {
	w := &readyWatch{gvr: gvr, ns: ns, ready: map[string]time.Time{}, notReady: map[string]string{}, changed: make(chan struct{}, 1)}
	go w.run(ctx, dc)
	return w
}

func (w *readyWatch) run(ctx context.Context, dc dynamic.Interface) {
	ri := dc.Resource(w.gvr).Namespace(w.ns)
	for ctx.Err() == nil {
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for i := range list.Items {
			w.observe(&list.Items[i])
		}
		wi, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion(), AllowWatchBookmarks: true})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range wi.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				w.observe(u)
			}
		}
		wi.Stop()
	}
}

func (w *readyWatch) observe(u *unstructured.Unstructured) {
	ready, why := isReady(u)
	w.mu.Lock()
	defer w.mu.Unlock()
	name := u.GetName()
	// The first time an object is Ready for its generation counts: Flux
	// marks an object not ready while it reconciles it again, so at a short
	// interval a fleet is rarely all Ready at one instant.
	switch {
	case ready && w.ready[name].IsZero():
		w.ready[name] = time.Now()
		delete(w.notReady, name)
	case !ready && w.ready[name].IsZero():
		w.ready[name] = time.Time{}
		w.notReady[name] = why
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// isReady is kstatus's reading of a Flux or sealift object: Ready=True for
// the generation the controller last observed, and that generation is the
// object's current one.
func isReady(u *unstructured.Unstructured) (bool, string) {
	gen := u.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		if m["status"] == "True" && observed == gen {
			return true, ""
		}
		return false, fmt.Sprintf("%v: %v", m["reason"], m["message"])
	}
	return false, "no Ready condition"
}

// reset forgets when objects became ready, so a change of generation is
// timed afresh.
func (w *readyWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready = map[string]time.Time{}
	w.notReady = map[string]string{}
}

// waitAll waits until n objects are Ready and returns when the last of them
// became so; on timeout it says what is still not ready.
func (w *readyWatch) waitAll(ctx context.Context, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		var last time.Time
		count := 0
		for _, t := range w.ready {
			if !t.IsZero() {
				count++
				if t.After(last) {
					last = t
				}
			}
		}
		w.mu.Unlock()
		if count >= n {
			return last, nil
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second):
		case <-deadline:
			return time.Time{}, fmt.Errorf("%d of %d %s Ready after %s; not ready: %s", count, n, w.gvr.Resource, timeout, w.sample())
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// sample lists a few objects that are not ready and why.
func (w *readyWatch) sample() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.notReady))
	for n := range w.notReady {
		names = append(names, n)
	}
	sort.Strings(names)
	out := ""
	for i, n := range names {
		if i == 3 {
			out += fmt.Sprintf(" (and %d more)", len(names)-3)
			break
		}
		out += fmt.Sprintf("%s (%s); ", n, w.notReady[n])
	}
	return out
}
