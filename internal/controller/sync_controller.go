package controller

import (
	"context"
	"errors"
	"fmt"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/reconcile"
)

const (
	// Finalizer holds a Sync until what it applied is pruned.
	Finalizer = "sealift.dev/finalizer"
	// RequestedAtAnnotation, set to any new value (sealift reconcile sync,
	// or kubectl annotate), forces a reconcile; the value is copied to
	// status.lastHandledReconcileAt once handled.
	RequestedAtAnnotation = sealiftv1.ReconcileRequestAnnotation

	// ConditionSuspended is True while spec.suspend stops reconciles.
	ConditionSuspended = "Suspended"

	// Reasons the controller adds to reconcile's.
	ReasonProgressing        = "Progressing"
	ReasonSuspended          = "Suspended"
	ReasonDependencyNotReady = "DependencyNotReady"
	ReasonPruned             = "Pruned"
	ReasonPruneFailed        = "PruneFailed"
	// ReasonDrifted: with drift: detect, applied objects differ from the
	// applied revision (recorded when the set of drifted objects changes).
	ReasonDrifted = "Drifted"

	// ReconcilingDelay is, by default, how long a reconcile of a change
	// works before the Sync shows Reconciling=True. A reconcile that ends sooner (most
	// do, in well under a second) writes its outcome alone: one status
	// write instead of two, and kstatus readers see the change in progress
	// meanwhile from status.observedGeneration lagging metadata.generation.
	ReconcilingDelay = 2 * time.Second

	// eventAction is the action of every event (events.k8s.io needs one).
	eventReconcile = "Reconcile"
	eventFinalize  = "Finalize"
)

// SyncReconciler is the controller-runtime adapter over reconcile.Engine:
// it reads the Sync, keeps the finalizer, resolves Secrets, calls the same
// Reconcile that `sealift sync --once` calls, writes the status subresource,
// records events and metrics, and decides when to come back.
type SyncReconciler struct {
	client.Client
	// APIReader reads Secrets without caching them.
	APIReader client.Reader
	// Engine is the pipeline, without its Cache (taken from the shared cache
	// for each reconcile).
	Engine   reconcile.Engine
	Recorder recorder.EventRecorder

	DefaultServiceAccount string
	NoCrossNamespaceRefs  bool

	cache   *sharedCache
	limiter *retryLimiter
	poller  *stalledPoller
	drift   *driftWatches
	metrics *metrics
	now     func() time.Time
	// reconcilingDelay: see Options.ReconcilingDelay.
	reconcilingDelay time.Duration
}

// Reconcile implements controller-runtime's reconcile.Reconciler.
func (r *SyncReconciler) Reconcile(ctx context.Context, req ctrlreconcile.Request) (ctrlreconcile.Result, error) {
	log := ctrllog.FromContext(ctx)
	var s sealiftv1.Sync
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrlreconcile.Result{}, nil
		}
		return ctrlreconcile.Result{}, err
	}
	r.limiter.setCap(req.NamespacedName, retryCap(&s))

	if !s.DeletionTimestamp.IsZero() {
		return ctrlreconcile.Result{}, r.finalize(ctx, &s)
	}
	if !controllerutil.ContainsFinalizer(&s, Finalizer) {
		patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&s, Finalizer)
		if err := r.Patch(ctx, &s, patch); err != nil {
			return ctrlreconcile.Result{}, fmt.Errorf("add finalizer to %s: %w", s.Key(), err)
		}
	}

	start := r.now()
	before := s.DeepCopy()
	requested := s.Annotations[RequestedAtAnnotation]

	if s.Spec.Suspend {
		r.poller.cancel(req.NamespacedName)
		meta := metav1.Condition{Type: ConditionSuspended, Status: metav1.ConditionTrue, Reason: ReasonSuspended,
			Message: "spec.suspend is true: nothing is applied or pruned until it is false", ObservedGeneration: s.Generation}
		apimeta.SetStatusCondition(&s.Status.Conditions, meta)
		apimeta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionReconciling)
		s.Status.ObservedGeneration = s.Generation
		s.Status.LastHandledReconcileAt = requested
		if err := r.patchStatus(ctx, before, &s); err != nil {
			return ctrlreconcile.Result{}, err
		}
		r.metrics.observe(req.NamespacedName, resultSuspended, ReasonSuspended, r.now().Sub(start))
		log.V(1).Info("suspended")
		return ctrlreconcile.Result{}, nil
	}
	apimeta.RemoveStatusCondition(&s.Status.Conditions, ConditionSuspended)

	if waiting, err := r.dependenciesReady(ctx, &s); err != nil || waiting != "" {
		if err != nil {
			return ctrlreconcile.Result{}, err
		}
		apimeta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: sealiftv1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: ReasonDependencyNotReady, Message: waiting, ObservedGeneration: s.Generation})
		s.Status.LastHandledReconcileAt = requested
		if err := r.patchStatus(ctx, before, &s); err != nil {
			return ctrlreconcile.Result{}, err
		}
		r.event(&s, before, corev1.EventTypeNormal, ReasonDependencyNotReady, waiting)
		r.metrics.setReady(req.NamespacedName, false)
		r.metrics.observe(req.NamespacedName, resultDependency, ReasonDependencyNotReady, r.now().Sub(start))
		return ctrlreconcile.Result{RequeueAfter: jitter(retryCap(&s))}, nil
	}

	var mark *progressMark
	if !routine(&s, requested) {
		// Reconciling=True while a change is worked on for longer than
		// r.reconcilingDelay. A routine look at a Ready Sync (its interval, a
		// drift event) skips it: most such looks change nothing, and then
		// they write nothing at all.
		marked := s.DeepCopy()
		apimeta.SetStatusCondition(&marked.Status.Conditions, metav1.Condition{Type: sealiftv1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: ReasonProgressing, Message: fmt.Sprintf("reconciling generation %d", s.Generation), ObservedGeneration: s.Generation})
		mark = r.markProgress(ctx, before, marked)
	}

	res, reason, err := r.run(ctx, &s)
	written := before // the status the cluster holds
	if mark != nil && mark.stop() {
		written = mark.marked
	}
	s.Status.LastHandledReconcileAt = requested
	if err == nil {
		if res.ServedBy != "" {
			s.Status.ServedBy = res.ServedBy
		}
		s.Status.LastAppliedRevision = revision(res)
	}
	if perr := r.patchStatus(ctx, written, &s); perr != nil {
		return ctrlreconcile.Result{}, errors.Join(err, perr)
	}
	r.report(&s, before, res, reason, err)
	if s.Status.Inventory != nil {
		r.drift.ensure(s.Status.Inventory.Entries)
	}

	key := req.NamespacedName
	r.metrics.setReady(key, err == nil)
	r.metrics.verified(key, res, reason)
	r.metrics.drift(key, res, res.Digest != "" && res.Digest == before.Status.LastAppliedDigest)
	took := r.now().Sub(start)
	switch {
	case err == nil:
		r.poller.cancel(key)
		r.metrics.observe(key, resultSuccess, reason, took)
		r.metrics.changes(key, res.Changes)
		if res.Digest != before.Status.LastAppliedDigest {
			if created, ok := createdAt(res.Annotations); ok {
				r.metrics.deliveryLatency(key, created, r.now())
			}
		}
		log.V(1).Info("reconciled", "digest", res.Digest, "took", took)
		return ctrlreconcile.Result{RequeueAfter: jitter(interval(&s))}, nil
	case errdef.IsTerminal(err):
		// Stalled: no back-off retries, but the source is looked at again
		// at the Sync's interval, and any change to the Sync comes at once.
		r.metrics.observe(key, resultStalled, reason, took)
		r.metrics.changes(key, res.Changes)
		r.poller.schedule(&s, jitter(interval(&s)))
		return ctrlreconcile.Result{}, ctrlreconcile.TerminalError(err)
	default:
		r.metrics.observe(key, resultError, reason, took)
		r.metrics.changes(key, res.Changes)
		return ctrlreconcile.Result{}, err
	}
}

// run prepares s and walks it through the pipeline once; s.Status is
// updated as `sealift sync --once` updates it.
func (r *SyncReconciler) run(ctx context.Context, s *sealiftv1.Sync) (reconcile.Outcome, string, error) {
	c, release, err := r.cache.acquire(ctx)
	if err != nil {
		return reconcile.Outcome{}, sealiftv1.ReasonSourceUnavailable, err
	}
	defer release()
	engine := r.Engine
	engine.Cache = c
	p, err := r.prepare(ctx, s, engine)
	if err != nil {
		reason := sealiftv1.ReasonInvalidSpec
		setFailed(s, reason, err)
		return reconcile.Outcome{}, reason, err
	}
	defer p.cleanup()
	res, err := p.engine.Reconcile(ctx, p.sync)
	s.Status = p.sync.Status
	reason := sealiftv1.ReasonApplied
	if ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady); ready != nil {
		reason = ready.Reason
	}
	return res, reason, err
}

// setFailed records a failure that happened before the pipeline ran, as
// reconcile records its own.
func setFailed(s *sealiftv1.Sync, reason string, err error) {
	s.Status.ObservedGeneration = s.Generation
	apimeta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionReconciling)
	apimeta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: sealiftv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: err.Error()})
	if errdef.IsTerminal(err) {
		apimeta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: sealiftv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: err.Error()})
	} else {
		apimeta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionStalled)
	}
}

// finalize prunes what a deleted Sync owns (unless it is suspended; prune:
// false keeps the objects) and then lets it go.
func (r *SyncReconciler) finalize(ctx context.Context, s *sealiftv1.Sync) error {
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	if !controllerutil.ContainsFinalizer(s, Finalizer) {
		r.forget(key)
		return nil
	}
	if !s.Spec.Suspend {
		c, release, err := r.cache.acquire(ctx)
		if err != nil {
			return err
		}
		// Pruning needs only what the Sync applied as (owner, service
		// account), not its source or keys: a Sync whose spec went bad can
		// still be deleted.
		work := s.DeepCopy()
		if work.Spec.ServiceAccountName == "" {
			work.Spec.ServiceAccountName = r.DefaultServiceAccount
		}
		engine := r.Engine
		engine.Cache = c
		res, err := engine.Finalize(ctx, work)
		release()
		switch {
		case err != nil && !errdef.IsTerminal(err):
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonPruneFailed, eventFinalize, "%s (retrying)", err.Error())
			return err
		case err != nil:
			// Retrying cannot help (an inventory record another Sync owns,
			// say): report it and let the Sync go.
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonPruneFailed, eventFinalize, "%s (not retried; the objects are left in place)", err.Error())
		case countAction(res.Changes, deploy.ActionDeleted) > 0:
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonPruned, eventFinalize, "Sync deleted: pruned %d objects", countAction(res.Changes, deploy.ActionDeleted))
		}
	}
	patch := client.MergeFromWithOptions(s.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(s, Finalizer)
	if err := r.Patch(ctx, s, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer from %s: %w", s.Key(), err)
	}
	r.forget(key)
	return nil
}

// dependenciesReady returns why s must wait for the Syncs it depends on,
// or "" when each is Ready for its current generation.
func (r *SyncReconciler) dependenciesReady(ctx context.Context, s *sealiftv1.Sync) (string, error) {
	for _, dep := range s.Spec.DependsOn {
		var d sealiftv1.Sync
		err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: dep.Name}, &d)
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("dependency %s/%s does not exist", s.Namespace, dep.Name), nil
		}
		if err != nil {
			return "", err
		}
		ready := apimeta.FindStatusCondition(d.Status.Conditions, sealiftv1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || d.Status.ObservedGeneration != d.Generation {
			return fmt.Sprintf("dependency %s/%s is not ready", s.Namespace, dep.Name), nil
		}
	}
	return "", nil
}

// routine reports whether this reconcile of s is a look at a Sync that is
// Ready for its current generation, not asked for by the requested-at
// annotation: an interval's poll or a drift event.
func routine(s *sealiftv1.Sync, requested string) bool {
	ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionTrue &&
		s.Status.ObservedGeneration == s.Generation && ready.ObservedGeneration == s.Generation &&
		requested == s.Status.LastHandledReconcileAt
}

// progressMark writes Reconciling=True on a Sync whose reconcile is still
// at work after its delay (Options.ReconcilingDelay).
type progressMark struct {
	timer  *time.Timer
	marked *sealiftv1.Sync // the Sync with Reconciling=True, as written
	done   chan struct{}   // closed once the timer's write returned
	wrote  bool            // the write succeeded; read after done
}

// markProgress arranges for marked's status, the Sync as before holds it
// with Reconciling=True, to be written after r.reconcilingDelay unless the
// mark is stopped first. Neither before nor marked may be changed until
// stop returns.
func (r *SyncReconciler) markProgress(ctx context.Context, before, marked *sealiftv1.Sync) *progressMark {
	pm := &progressMark{marked: marked, done: make(chan struct{})}
	pm.timer = time.AfterFunc(r.reconcilingDelay, func() {
		defer close(pm.done)
		if err := r.patchStatus(ctx, before, marked); err != nil {
			ctrllog.FromContext(ctx).V(1).Info("Reconciling condition not written", "error", err.Error())
			return
		}
		pm.wrote = true
	})
	return pm
}

// stop cancels the write if it has not started, else waits for it, and
// reports whether Reconciling=True was written.
func (pm *progressMark) stop() bool {
	if pm.timer.Stop() {
		return false
	}
	<-pm.done
	return pm.wrote
}

// patchStatus writes s's status when it differs from before's; an
// unchanged status costs no request.
func (r *SyncReconciler) patchStatus(ctx context.Context, before, s *sealiftv1.Sync) error {
	if equality.Semantic.DeepEqual(before.Status, s.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, s, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status of %s: %w", s.Key(), err)
	}
	return nil
}

// report records an event when the reconcile changed the Sync's state:
// a new digest applied, readiness restored, objects changed or pruned, or a
// new failure. An unchanged reconcile records none.
func (r *SyncReconciler) report(s, before *sealiftv1.Sync, res reconcile.Outcome, reason string, err error) {
	if err != nil {
		r.event(s, before, corev1.EventTypeWarning, reason, err.Error())
		return
	}
	changed := 0
	for _, ch := range res.Changes {
		switch ch.Action {
		case deploy.ActionCreated, deploy.ActionConfigured, deploy.ActionRecreated:
			changed++
		}
	}
	wasReady := apimeta.IsStatusConditionTrue(before.Status.Conditions, sealiftv1.ConditionReady)
	if res.Digest != before.Status.LastAppliedDigest || !wasReady || changed > 0 {
		signers := "unverified (audit mode)"
		if res.Verdict.Verified {
			signers = fmt.Sprint(res.Verdict.Signers)
		}
		verb := "applied"
		if res.DriftChecked {
			verb = "checked"
		}
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, sealiftv1.ReasonApplied, eventReconcile,
			"%s %s@%s signed by %s: %d created, %d configured, %d recreated, %d unchanged (%d objects)",
			verb, res.Repository, res.Digest, signers,
			countAction(res.Changes, deploy.ActionCreated), countAction(res.Changes, deploy.ActionConfigured),
			countAction(res.Changes, deploy.ActionRecreated), countAction(res.Changes, deploy.ActionUnchanged), len(res.Inventory))
	}
	if res.DriftChecked && len(res.Drifted) > 0 {
		// Once per set of drifted objects, not at each look.
		ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
		old := apimeta.FindStatusCondition(before.Status.Conditions, sealiftv1.ConditionReady)
		if ready != nil && (old == nil || old.Message != ready.Message) {
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonDrifted, eventReconcile, "%s", ready.Message)
		}
	}
	if n := countAction(res.Changes, deploy.ActionDeleted); n > 0 {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonPruned, eventReconcile, "pruned %d objects that left %s", n, res.Digest)
	}
}

// event records a Ready=False state once: not again while the reason and
// message stay what they were.
func (r *SyncReconciler) event(s, before *sealiftv1.Sync, typ, reason, msg string) {
	if old := apimeta.FindStatusCondition(before.Status.Conditions, sealiftv1.ConditionReady); old != nil &&
		old.Status == metav1.ConditionFalse && old.Reason == reason && old.Message == msg {
		return
	}
	r.Recorder.Eventf(s, nil, typ, reason, eventReconcile, "%s", msg)
}

func (r *SyncReconciler) forget(key types.NamespacedName) {
	r.drift.forget(key)
	r.poller.cancel(key)
	r.limiter.drop(key)
	r.metrics.forget(key)
}

func countAction(changes []deploy.Change, a deploy.Action) int {
	n := 0
	for _, ch := range changes {
		if ch.Action == a {
			n++
		}
	}
	return n
}

// revision is tag@digest, or the digest alone when no tag led to it.
func revision(res reconcile.Outcome) string {
	if res.Tag != "" {
		return res.Tag + "@" + res.Digest
	}
	return res.Digest
}

// createdAt is the artifact's creation time from its manifest annotations.
func createdAt(ann map[string]string) (time.Time, bool) {
	v, ok := ann[ocispec.AnnotationCreated]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil && !t.IsZero() && t.Unix() > 0
}
