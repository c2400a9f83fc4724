package deploy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/sealift-dev/sealift/errdef"
)

// DefaultMaxPercent is the prune budget when PruneOptions sets none: an
// artifact that drops more than half of what a sync applied is more likely a
// broken render than an intended removal.
const DefaultMaxPercent = 50

// Unlimited turns a prune budget off.
const Unlimited = -1

var nsGK = schema.GroupKind{Kind: "Namespace"}

// PruneOptions are the safety rails of Prune. The zero value refuses to
// prune when the new inventory is empty and refuses to delete more than
// DefaultMaxPercent of the old inventory in one go.
type PruneOptions struct {
	// AllowEmpty lets an empty new inventory prune everything.
	AllowEmpty bool
	// MaxDeletes refuses a prune that would delete more objects; zero or
	// Unlimited means no count limit.
	MaxDeletes int
	// MaxPercent refuses a prune that would delete more than this share of
	// the old inventory; zero means DefaultMaxPercent, Unlimited none.
	MaxPercent int
}

// DeleteError is the failure to prune one object.
type DeleteError struct {
	// Object is the object's ID as in Change.Object.
	Object string
	Err    error
}

func (e *DeleteError) Error() string { return "prune " + e.Object + ": " + e.Err.Error() }

func (e *DeleteError) Unwrap() error { return e.Err }

// Prune deletes the objects of old that new no longer holds. Safety rails,
// checked before anything is deleted: an empty new inventory prunes nothing
// unless opts.AllowEmpty, and a prune over the budget (opts.MaxDeletes,
// opts.MaxPercent) is refused whole; both fail with
// errdef.ErrPolicyViolation.
//
// Prune needs a Manager with an Owner: it deletes only objects that carry
// the owner's ownership labels, whatever the inventory says. Each object is
// read first and left in place (ActionSkipped, with a Reason) when it is
// already gone, carries the annotation AnnotationPrune: PruneDisabled, or
// does not carry the owner's labels (another sync's, or none: an inventory
// is data anyone who can write a ConfigMap in the sync's namespace can
// forge, and an object the sync never labelled is not its to delete).
// Namespaces and CustomResourceDefinitions are deleted last, after
// everything else: deleting one deletes everything in it. Deletes are
// conditional on the UID read and propagate in the background.
//
// The returned ChangeSet lists what was deleted or skipped even when err is
// non-nil; NextInventory turns it into the inventory to record.
func (m *Manager) Prune(ctx context.Context, old, new Inventory, opts PruneOptions) (*ChangeSet, error) {
	cs := &ChangeSet{}
	if m.owner.IsZero() {
		return cs, fmt.Errorf("deploy: prune: the manager has no owner, so no object can be proven to be its own: %w", errdef.ErrPolicyViolation)
	}
	stale := NewInventory(old...).Minus(NewInventory(new...))
	if len(stale) == 0 {
		return cs, nil
	}
	if len(new) == 0 && !opts.AllowEmpty {
		return cs, fmt.Errorf("deploy: the new set is empty; refusing to prune all %d objects of the inventory (allow empty to do it): %w", len(stale), errdef.ErrPolicyViolation)
	}
	if opts.MaxDeletes > 0 && len(stale) > opts.MaxDeletes {
		return cs, fmt.Errorf("deploy: prune would delete %d objects, more than the budget of %d: %w", len(stale), opts.MaxDeletes, errdef.ErrPolicyViolation)
	}
	maxPercent := opts.MaxPercent
	if maxPercent == 0 {
		maxPercent = DefaultMaxPercent
	}
	if maxPercent > 0 && len(new) > 0 && len(stale)*100 > maxPercent*len(old) {
		return cs, fmt.Errorf("deploy: prune would delete %d of %d objects (%d%%), more than the budget of %d%%: %w",
			len(stale), len(old), len(stale)*100/len(old), maxPercent, errdef.ErrPolicyViolation)
	}

	var first, last Inventory
	for _, r := range stale {
		if gk := r.GroupKind(); gk == nsGK || gk == crdGK {
			last = append(last, r)
		} else {
			first = append(first, r)
		}
	}
	if err := m.pruneStage(ctx, first, cs); err != nil {
		return cs, err
	}
	return cs, m.pruneStage(ctx, last, cs)
}

// pruneStage deletes refs with bounded concurrency.
func (m *Manager) pruneStage(ctx context.Context, refs Inventory, cs *ChangeSet) error {
	return m.fanOut(len(refs), cs, func(i int) (Change, error) {
		ch, err := m.pruneOne(ctx, refs[i])
		if err != nil {
			return Change{}, &DeleteError{Object: refs[i].ID(), Err: err}
		}
		return ch, nil
	})
}

func (m *Manager) pruneOne(ctx context.Context, r ObjectRef) (Change, error) {
	ch := Change{Object: r.ID(), Ref: r, Action: ActionSkipped}
	if err := ctx.Err(); err != nil {
		return ch, err
	}
	mapping, err := m.mapper.RESTMapping(ctx, r.GroupKind())
	if meta.IsNoMatchError(err) {
		ch.Reason = "already gone: its kind is no longer served"
		return ch, nil
	}
	if err != nil {
		return ch, fmt.Errorf("map %s: %w", r.GroupKind(), err)
	}
	var c dynamic.ResourceInterface = m.client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		c = m.client.Resource(mapping.Resource).Namespace(r.Namespace)
	}
	live, err := c.Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		ch.Reason = "already gone"
		return ch, nil
	case err != nil:
		return ch, fmt.Errorf("get: %w", err)
	}
	other, hasOwner := ownerOf(live)
	switch {
	case live.GetAnnotations()[AnnotationPrune] == PruneDisabled:
		ch.Reason = "annotated " + AnnotationPrune + ": " + PruneDisabled
		return ch, nil
	case live.GetDeletionTimestamp() != nil:
		ch.Reason = "already being deleted"
		return ch, nil
	case hasOwner && other != m.owner:
		ch.Reason = "now owned by sync " + other.String()
		return ch, nil
	case !m.owner.owns(live):
		ch.Reason = "does not carry the sync's ownership labels"
		return ch, nil
	}
	uid := live.GetUID()
	bg := metav1.DeletePropagationBackground
	err = c.Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
	switch {
	case apierrors.IsNotFound(err):
		ch.Reason = "already gone"
		return ch, nil
	case apierrors.IsConflict(err):
		ch.Reason = "replaced by another object of the same name"
		return ch, nil
	case err != nil:
		return ch, fmt.Errorf("delete: %w", err)
	}
	ch.Action = ActionDeleted
	return ch, nil
}

// NextInventory is the inventory to record after applying new and pruning
// old with the result pruned: new, plus every stale object that was neither
// deleted nor skipped (its delete failed), so a later prune retries it.
func NextInventory(old, new Inventory, pruned *ChangeSet) Inventory {
	done := map[ObjectRef]bool{}
	if pruned != nil {
		for _, ch := range pruned.Changes {
			done[ch.Ref] = true
		}
	}
	next := append(Inventory{}, new...)
	for _, r := range NewInventory(old...).Minus(NewInventory(new...)) {
		if !done[r] {
			next = append(next, r)
		}
	}
	return NewInventory(next...)
}
