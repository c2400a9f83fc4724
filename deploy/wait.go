package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const (
	// DefaultWaitTimeout bounds Wait when WaitOptions sets none: rollouts of
	// a few replicas finish in well under that.
	DefaultWaitTimeout = 5 * time.Minute
	// DefaultWaitInterval is how often Wait re-reads the objects not yet
	// healthy: frequent enough to return soon after a rollout, rare enough
	// that a thousand objects cost a few requests per second.
	DefaultWaitInterval = 2 * time.Second
)

// WaitOptions tunes Wait. The zero value waits up to DefaultWaitTimeout,
// polling every DefaultWaitInterval.
type WaitOptions struct {
	Timeout  time.Duration
	Interval time.Duration
}

// Unhealthy is one object that did not become healthy in time.
type Unhealthy struct {
	// Object is the object's ID as in Change.Object.
	Object string `json:"object"`
	// Status is the kstatus status last seen: InProgress, Failed,
	// Terminating, NotFound or Unknown.
	Status string `json:"status"`
	// Message is the reason kstatus gave, or the error reading the object.
	Message string `json:"message"`
}

// WaitError lists every object that was not healthy when Wait gave up.
type WaitError struct {
	Unhealthy []Unhealthy
	// Err is the reason Wait stopped: a timeout or a cancelled context.
	Err error
}

func (e *WaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d object(s) not healthy: ", len(e.Unhealthy))
	for i, u := range e.Unhealthy {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s is %s: %s", u.Object, u.Status, u.Message)
	}
	if e.Err != nil {
		b.WriteString(" (" + e.Err.Error() + ")")
	}
	return b.String()
}

func (e *WaitError) Unwrap() error { return e.Err }

// Wait waits until every object in inv has the kstatus status Current,
// within opts.Timeout. Each round reads only the objects not yet Current,
// with bounded concurrency. When time runs out (or ctx ends) it returns a
// *WaitError naming each object still unhealthy with its status and reason.
// An object that does not exist is NotFound, not healthy.
func (m *Manager) Wait(ctx context.Context, inv Inventory, opts WaitOptions) error {
	timeout, interval := opts.Timeout, opts.Interval
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	if interval <= 0 {
		interval = DefaultWaitInterval
	}
	// Reads run under ctx, not under the deadline, so that the round
	// running when time is up completes and reports real reasons.
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	pending := NewInventory(inv...)
	for {
		cur := m.unhealthy(ctx, pending)
		if len(cur) == 0 {
			return nil
		}
		still := map[string]bool{}
		for _, u := range cur {
			still[u.Object] = true
		}
		next := pending[:0:0]
		for _, r := range pending {
			if still[r.ID()] {
				next = append(next, r)
			}
		}
		pending = next
		select {
		case <-ctx.Done():
			return &WaitError{Unhealthy: cur, Err: fmt.Errorf("wait for health: %w", ctx.Err())}
		case <-deadline.C:
			return &WaitError{Unhealthy: cur, Err: fmt.Errorf("wait for health: gave up after %s: %w", timeout, context.DeadlineExceeded)}
		case <-tick.C:
		}
	}
}

// unhealthy reads refs and returns those not Current, in refs' order.
func (m *Manager) unhealthy(ctx context.Context, refs Inventory) []Unhealthy {
	out := make([]*Unhealthy, len(refs))
	var g errgroup.Group
	g.SetLimit(m.concurrency)
	for i, r := range refs {
		g.Go(func() error {
			st, msg := m.health(ctx, r)
			if st != status.CurrentStatus {
				out[i] = &Unhealthy{Object: r.ID(), Status: string(st), Message: msg}
			}
			return nil
		})
	}
	_ = g.Wait()
	var list []Unhealthy
	for _, u := range out {
		if u != nil {
			list = append(list, *u)
		}
	}
	return list
}

// health computes the kstatus status of one object.
func (m *Manager) health(ctx context.Context, r ObjectRef) (status.Status, string) {
	mapping, err := m.mapper.RESTMapping(ctx, r.GroupKind())
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	c := m.client.Resource(mapping.Resource)
	getter := c.Get
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		getter = c.Namespace(r.Namespace).Get
	}
	obj, err := getter(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return status.NotFoundStatus, "the object does not exist"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return status.UnknownStatus, "not read before the deadline"
	case err != nil:
		return status.UnknownStatus, err.Error()
	}
	res, err := status.Compute(obj)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	return res.Status, res.Message
}
