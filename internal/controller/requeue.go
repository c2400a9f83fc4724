package controller

import (
	"context"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	ctrlreconcile "sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	// DefaultInterval is how often a Sync without spec.interval is
	// reconciled: a HEAD request to the registry each time nothing changed.
	DefaultInterval = 5 * time.Minute
	// jitterFraction spreads requeues by ±10% so Syncs created together do
	// not hit the registry together forever.
	jitterFraction = 0.1
	// retryBase is the first back-off after a transient failure; it doubles
	// on each failure in a row up to the Sync's retry cap.
	retryBase = time.Second
)

// interval is s's reconcile interval.
func interval(s *sealiftv1.Sync) time.Duration {
	if s.Spec.Interval != nil && s.Spec.Interval.Duration > 0 {
		return s.Spec.Interval.Duration
	}
	return DefaultInterval
}

// retryCap bounds the back-off of s after transient failures:
// spec.retryInterval, else the interval.
func retryCap(s *sealiftv1.Sync) time.Duration {
	if s.Spec.RetryInterval != nil && s.Spec.RetryInterval.Duration > 0 {
		return s.Spec.RetryInterval.Duration
	}
	return interval(s)
}

// jitter returns d moved by up to ±10%.
func jitter(d time.Duration) time.Duration {
	spread := float64(d) * jitterFraction
	return d + time.Duration((rand.Float64()*2-1)*spread)
}

// retryLimiter is the work queue's back-off for failed reconciles:
// exponential from retryBase, capped per Sync by its retry cap (recorded by
// each reconcile), and reset when a reconcile succeeds (Forget).
type retryLimiter struct {
	exp  workqueue.TypedRateLimiter[ctrlreconcile.Request]
	mu   sync.Mutex
	caps map[types.NamespacedName]time.Duration
}

func newRetryLimiter() *retryLimiter {
	return &retryLimiter{
		exp:  workqueue.NewTypedItemExponentialFailureRateLimiter[ctrlreconcile.Request](retryBase, 24*time.Hour),
		caps: map[types.NamespacedName]time.Duration{},
	}
}

func (l *retryLimiter) When(req ctrlreconcile.Request) time.Duration {
	d := l.exp.When(req)
	l.mu.Lock()
	limit, ok := l.caps[req.NamespacedName]
	l.mu.Unlock()
	if ok && d > limit {
		d = limit
	}
	return d
}

func (l *retryLimiter) Forget(req ctrlreconcile.Request) { l.exp.Forget(req) }

func (l *retryLimiter) NumRequeues(req ctrlreconcile.Request) int { return l.exp.NumRequeues(req) }

func (l *retryLimiter) setCap(key types.NamespacedName, d time.Duration) {
	l.mu.Lock()
	l.caps[key] = d
	l.mu.Unlock()
}

func (l *retryLimiter) drop(key types.NamespacedName) {
	l.mu.Lock()
	delete(l.caps, key)
	l.mu.Unlock()
}

// stalledPoller brings a stalled Sync back once per interval. A terminal
// failure is not retried with back-off (a bad signature stays bad), but the
// tag may move to a good artifact without the Sync changing, so the
// source is looked at again, at the pace of a healthy Sync.
type stalledPoller struct {
	events chan event.GenericEvent
	done   chan struct{}
	mu     sync.Mutex
	timers map[types.NamespacedName]*time.Timer
}

func newStalledPoller() *stalledPoller {
	return &stalledPoller{
		events: make(chan event.GenericEvent),
		done:   make(chan struct{}),
		timers: map[types.NamespacedName]*time.Timer{},
	}
}

// schedule brings s back after d, replacing an earlier schedule.
func (p *stalledPoller) schedule(s *sealiftv1.Sync, d time.Duration) {
	key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	obj := &sealiftv1.Sync{}
	obj.Namespace, obj.Name = s.Namespace, s.Name
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.timers[key]; ok {
		t.Stop()
	}
	p.timers[key] = time.AfterFunc(d, func() {
		select {
		case p.events <- event.GenericEvent{Object: obj}:
		case <-p.done:
		}
	})
}

// cancel drops s's schedule (it reconciled, or is gone).
func (p *stalledPoller) cancel(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.timers[key]; ok {
		t.Stop()
		delete(p.timers, key)
	}
}

// Start implements manager.Runnable: it stops every schedule when the
// manager stops.
func (p *stalledPoller) Start(ctx context.Context) error {
	<-ctx.Done()
	close(p.done)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.timers {
		t.Stop()
	}
	return nil
}
