package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// DiffAction is what applying the set would do to one object.
type DiffAction string

const (
	DiffCreate    DiffAction = "create"
	DiffUpdate    DiffAction = "update"
	DiffUnchanged DiffAction = "unchanged"
	DiffDelete    DiffAction = "delete"
)

// ObjectDiff is the predicted outcome for one object.
type ObjectDiff struct {
	// Object is the object's ID as in Change.Object.
	Object string     `json:"object"`
	Ref    ObjectRef  `json:"-"`
	Action DiffAction `json:"action"`
	// Diff is a unified diff, live object to the object after the apply,
	// of everything the apply would change; empty when unchanged. It never
	// shows status or server bookkeeping (managedFields, resourceVersion).
	Diff string `json:"diff,omitempty"`
	// TookFrom names the other managers the apply would take fields from.
	TookFrom []string `json:"tookFrom,omitempty"`
}

// Drifted returns the diffs that are not unchanged.
func Drifted(diffs []ObjectDiff) []ObjectDiff {
	var out []ObjectDiff
	for _, d := range diffs {
		if d.Action != DiffUnchanged {
			out = append(out, d)
		}
	}
	return out
}

// Diff predicts what ApplyAllStaged(objs) followed by Prune(old, ...) would
// do, with server-side dry-run applies: nothing is written. It is how drift
// is detected: a live object edited by someone else shows up as an update
// taking the edited fields back. Objects of kinds that CRDs in objs define
// but the API server does not serve yet are reported as creates of the
// object as given. Objects of old no longer in objs are deletes, unless
// Prune would leave them (opt-out annotation, another sync's labels).
func (m *Manager) Diff(ctx context.Context, objs []*unstructured.Unstructured, old Inventory) ([]ObjectDiff, error) {
	plans, err := m.plan(ctx, objs)
	if err != nil {
		return nil, err
	}
	// Namespaces of the set: a dry-run create in one that does not exist
	// yet fails, though the real apply creates the namespace first.
	inSet := map[string]bool{}
	for _, p := range plans {
		if p.obj.GroupVersionKind().GroupKind() == nsGK {
			inSet[p.obj.GetName()] = true
		}
	}
	m.prefetch(ctx, plans)
	out := make([]ObjectDiff, len(plans))
	errs := make([]error, len(plans))
	var g errgroup.Group
	g.SetLimit(m.concurrency)
	for i, p := range plans {
		g.Go(func() error {
			d, err := m.diffOne(ctx, p, inSet[p.obj.GetNamespace()])
			if err != nil {
				errs[i] = &ApplyError{Object: ObjectID(p.obj), Err: err}
			}
			out[i] = d
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	applied := make([]ObjectRef, len(plans))
	for i, p := range plans {
		applied[i] = RefOf(p.obj)
	}
	for _, r := range NewInventory(old...).Minus(NewInventory(applied...)) {
		d, err := m.diffDelete(ctx, r)
		if err != nil {
			return nil, &DeleteError{Object: r.ID(), Err: err}
		}
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

// diffOne predicts the apply of p; nsInSet says p's namespace is created by
// the same set.
func (m *Manager) diffOne(ctx context.Context, p *planned, nsInSet bool) (ObjectDiff, error) {
	d := ObjectDiff{Object: ObjectID(p.obj), Ref: RefOf(p.obj), Action: DiffCreate}
	if p.deferred {
		diff, err := unifiedDiff(d.Object, nil, p.obj)
		d.Diff = diff
		return d, err
	}
	r := m.resource(p)
	opts := metav1.ApplyOptions{FieldManager: m.fieldOwner, Force: true, DryRun: []string{metav1.DryRunAll}}
	live := p.live
	if !p.known {
		var err error
		live, err = r.Get(ctx, p.obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return d, fmt.Errorf("get: %w", err)
		}
	}
	adopt := live != nil && !m.owner.IsZero() && !m.owner.owns(live)
	if adopt {
		if err := m.mayAdopt(live); err != nil {
			return d, err
		}
	}
	if live != nil && !adopt && unchangedLocally(p.obj, live) {
		d.Action = DiffUnchanged
		return d, nil
	}
	preview, err := r.Apply(ctx, p.obj.GetName(), p.obj, opts)
	if err != nil && live == nil && nsInSet && apierrors.IsNotFound(err) {
		// Its namespace is new too: show the object as given.
		preview, err = p.obj, nil
	}
	if err != nil {
		if fields := immutableFields(err); len(fields) > 0 && !m.force {
			return d, fmt.Errorf("immutable field %s cannot be changed in place; set force to recreate the object: %w", strings.Join(fields, ", "), applyErr(err))
		}
		if len(immutableFields(err)) == 0 {
			return d, applyErr(err)
		}
		// With force the object would be recreated: show it as such.
		preview = p.obj
	}
	if live != nil {
		if sameObject(live, preview, m.fieldOwner) {
			d.Action = DiffUnchanged
			return d, nil
		}
		d.Action = DiffUpdate
		d.TookFrom = tookFrom(live, preview, m.fieldOwner)
	}
	d.Diff, err = unifiedDiff(d.Object, live, preview)
	return d, err
}

// diffDelete reports what Prune would do to r, or nil when it would leave it.
func (m *Manager) diffDelete(ctx context.Context, r ObjectRef) (*ObjectDiff, error) {
	mapping, err := m.mapper.RESTMapping(ctx, r.GroupKind())
	if meta.IsNoMatchError(err) {
		return nil, nil // a kind no longer served: nothing left to delete
	}
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", r.GroupKind(), err)
	}
	c := m.client.Resource(mapping.Resource)
	get := c.Get
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		get = c.Namespace(r.Namespace).Get
	}
	live, err := get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	other, hasOwner := ownerOf(live)
	gk := r.GroupKind()
	if live.GetAnnotations()[AnnotationPrune] == PruneDisabled ||
		(hasOwner && !m.owner.IsZero() && other != m.owner) ||
		((gk == nsGK || gk == crdGK) && (m.owner.IsZero() || !m.owner.owns(live))) {
		return nil, nil
	}
	diff, err := unifiedDiff(r.ID(), live, nil)
	return &ObjectDiff{Object: r.ID(), Ref: r, Action: DiffDelete, Diff: diff}, err
}

// unifiedDiff renders before -> after as YAML without status and server
// bookkeeping; a nil side is empty.
func unifiedDiff(name string, before, after *unstructured.Unstructured) (string, error) {
	a, err := diffYAML(before)
	if err != nil {
		return "", err
	}
	b, err := diffYAML(after)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "live/" + name, ToFile: "applied/" + name, Context: 3,
	})
}

func diffYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	o := obj.DeepCopy()
	for _, f := range [][]string{
		{"status"}, {"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "uid"},
		{"metadata", "generation"}, {"metadata", "creationTimestamp"},
	} {
		unstructured.RemoveNestedField(o.Object, f...)
	}
	b, err := yaml.Marshal(o.Object)
	return string(b), err
}
