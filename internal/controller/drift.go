package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sealift-dev/sealift/deploy"
)

// driftDelay is how long an edit or deletion of an applied object waits
// before its Sync is reconciled: a burst of writes (kubectl apply of several
// objects, a rollout) becomes one reconcile, and a tug of war with another
// writer costs at most about one reconcile a second.
const driftDelay = time.Second

// fullApplyInterval is how often a Sync whose objects the drift watches saw
// unchanged is still applied in full (rendered, its live objects compared):
// the watches make the periodic apply of an unchanged revision redundant,
// and this bounds what a missed event could leave uncorrected.
const fullApplyInterval = time.Hour

// driftWatches watches the metadata of the objects Syncs applied and
// enqueues the owning Sync (from the ownership labels) when one is edited or
// deleted, so drift is corrected (or reported) within seconds rather than at
// the next interval. Watches start lazily, one per kind, the first time a
// Sync's inventory names that kind; they use a cache of their own that lists
// only objects carrying sealift's ownership labels, holds metadata only, and
// drops managed fields.
type driftWatches struct {
	cache  ctrlcache.Cache
	mapper apimeta.RESTMapper
	log    logr.Logger

	mu      sync.Mutex
	ctrl    ctrlcontroller.Controller // set once the controller is built
	watched map[schema.GroupKind]bool
	// synced tells whether a kind's watch has delivered its first list.
	synced map[schema.GroupKind]func() bool
	// touched is when an object owned by a Sync was last seen edited or
	// deleted (or listed by a new watch).
	touched map[types.NamespacedName]time.Time
	now     func() time.Time
}

// newDriftWatches builds the metadata cache of the objects sealift applied
// (of the Syncs of watchNamespace, or of every namespace) and adds it to mgr.
func newDriftWatches(mgr manager.Manager, watchNamespace string, log logr.Logger) (*driftWatches, error) {
	owned, err := labels.NewRequirement(deploy.LabelSyncName, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	sel := labels.NewSelector().Add(*owned)
	if watchNamespace != "" {
		ns, err := labels.NewRequirement(deploy.LabelSyncNamespace, selection.Equals, []string{watchNamespace})
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*ns)
	}
	c, err := ctrlcache.New(mgr.GetConfig(), ctrlcache.Options{
		HTTPClient:           mgr.GetHTTPClient(),
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		DefaultLabelSelector: sel,
		DefaultTransform:     ctrlcache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("drift watch cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return &driftWatches{cache: c, mapper: mgr.GetRESTMapper(), log: log, watched: map[schema.GroupKind]bool{},
		synced: map[schema.GroupKind]func() bool{}, touched: map[types.NamespacedName]time.Time{}, now: time.Now}, nil
}

// setController gives the watches the controller whose queue they feed.
func (d *driftWatches) setController(c ctrlcontroller.Controller) {
	d.mu.Lock()
	d.ctrl = c
	d.mu.Unlock()
}

// ensure starts a watch for each kind of entries (inventory entries,
// Kind[.group]/[namespace/]name) that is not watched yet. A kind the API
// server does not serve (yet) is skipped and tried again next time.
func (d *driftWatches) ensure(entries []string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctrl == nil {
		return
	}
	for _, e := range entries {
		ref, err := deploy.ParseObjectRef(e)
		if err != nil {
			continue
		}
		gk := ref.GroupKind()
		if d.watched[gk] {
			continue
		}
		m, err := d.mapper.RESTMapping(gk)
		if err != nil {
			d.log.V(1).Info("not watching a kind for drift: no mapping", "kind", gk.String(), "error", err.Error())
			continue
		}
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(m.GroupVersionKind)
		src := source.Kind(d.cache, obj, driftHandler(gk, d.touch), driftPredicate{})
		if err := d.ctrl.Watch(src); err != nil {
			d.log.Error(err, "watch a kind for drift", "kind", gk.String())
			continue
		}
		d.watched[gk] = true
		if inf, err := d.cache.GetInformer(context.Background(), obj, ctrlcache.BlockUntilSynced(false)); err == nil {
			d.synced[gk] = inf.HasSynced
		}
		d.log.Info("watching applied objects for drift", "kind", m.GroupVersionKind.String())
	}
}

// touch records that an object owned by key changed now.
func (d *driftWatches) touch(key types.NamespacedName) {
	d.mu.Lock()
	d.touched[key] = d.now()
	d.mu.Unlock()
}

// forget drops what is known of a deleted Sync.
func (d *driftWatches) forget(key types.NamespacedName) {
	if d == nil {
		return
	}
	d.mu.Lock()
	delete(d.touched, key)
	d.mu.Unlock()
}

// untouched tells whether the objects of inventory that Sync sync
// ("namespace/name") applied at since are known to be as applied: every
// kind of inventory is watched and its watch has listed, none of the Sync's
// objects was edited or deleted since, and since is less than
// fullApplyInterval ago. It is reconcile.Engine.Untouched.
func (d *driftWatches) untouched(sync string, inventory []string, since time.Time) bool {
	if d == nil || since.IsZero() {
		return false
	}
	ns, name, ok := strings.Cut(sync, "/")
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if now.Sub(since) >= fullApplyInterval {
		return false
	}
	if t, ok := d.touched[types.NamespacedName{Namespace: ns, Name: name}]; ok && !t.Before(since) {
		return false
	}
	for _, e := range inventory {
		ref, err := deploy.ParseObjectRef(e)
		if err != nil {
			return false
		}
		synced := d.synced[ref.GroupKind()]
		if !d.watched[ref.GroupKind()] || synced == nil || !synced() {
			return false
		}
	}
	return true
}

// driftHandler enqueues the Sync named by an object's ownership labels,
// after driftDelay, on an edit or a deletion, and once for each object of
// the first list of a new watch: an edit made between the apply that named
// the kind and the end of that list is seen only there. Later creations are
// the Syncs' own applies.
// touch records each such change for the owner before it is enqueued.
func driftHandler(gk schema.GroupKind, touch func(types.NamespacedName)) handler.TypedEventHandler[*metav1.PartialObjectMetadata, ctrlreconcile.Request] {
	enqueue := func(obj *metav1.PartialObjectMetadata, q workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]) {
		if req, ok := ownerRequest(gk, obj); ok {
			touch(req.NamespacedName)
			q.AddAfter(req, driftDelay)
		}
	}
	return handler.TypedFuncs[*metav1.PartialObjectMetadata, ctrlreconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*metav1.PartialObjectMetadata], q workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*metav1.PartialObjectMetadata], q workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]) {
			enqueue(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*metav1.PartialObjectMetadata], q workqueue.TypedRateLimitingInterface[ctrlreconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}

// ownerRequest is the reconcile request of the Sync that owns obj. A Sync's
// own inventory ConfigMap carries its labels too but is no applied object.
func ownerRequest(gk schema.GroupKind, obj *metav1.PartialObjectMetadata) (ctrlreconcile.Request, bool) {
	l := obj.GetLabels()
	key := types.NamespacedName{Namespace: l[deploy.LabelSyncNamespace], Name: l[deploy.LabelSyncName]}
	if key.Name == "" || key.Namespace == "" {
		return ctrlreconcile.Request{}, false
	}
	if gk == (schema.GroupKind{Kind: "ConfigMap"}) && obj.GetNamespace() == key.Namespace && obj.GetName() == deploy.InventoryName(key.Name) {
		return ctrlreconcile.Request{}, false
	}
	return ctrlreconcile.Request{NamespacedName: key}, true
}

// driftPredicate passes deletions, the creations of a watch's first list,
// and the updates that can be drift. Objects with a
// generation (those with a spec and a status) pass when the generation,
// labels or annotations change, not on status writes; objects without one
// (ConfigMap, Secret, RBAC) pass on any new resourceVersion. Resyncs, which
// repeat the resourceVersion, never pass.
type driftPredicate struct{}

func (driftPredicate) Create(e event.TypedCreateEvent[*metav1.PartialObjectMetadata]) bool {
	return e.IsInInitialList
}
func (driftPredicate) Delete(event.TypedDeleteEvent[*metav1.PartialObjectMetadata]) bool { return true }
func (driftPredicate) Generic(event.TypedGenericEvent[*metav1.PartialObjectMetadata]) bool {
	return false
}

func (driftPredicate) Update(e event.TypedUpdateEvent[*metav1.PartialObjectMetadata]) bool {
	o, n := e.ObjectOld, e.ObjectNew
	if o == nil || n == nil || o.GetResourceVersion() == n.GetResourceVersion() {
		return false
	}
	if n.GetGeneration() == 0 {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() ||
		!labels.Equals(o.GetLabels(), n.GetLabels()) ||
		!labels.Equals(o.GetAnnotations(), n.GetAnnotations())
}
