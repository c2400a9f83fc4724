package deploy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// shows status or server bookkeeping (managedFields, resourceVersion),
	// nor the values of a Secret: as kubectl diff does, each value of data
	// and stringData reads "***", or "*** (before)" and "*** (after)" when
	// the apply changes it.
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
		if err := m.mayAdopt(live, p.namespaced); err != nil {
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
	// As Prune: only objects carrying the owner's labels are deleted.
	if live.GetAnnotations()[AnnotationPrune] == PruneDisabled || m.owner.IsZero() || !m.owner.owns(live) ||
		live.GetDeletionTimestamp() != nil {
		return nil, nil
	}
	diff, err := unifiedDiff(r.ID(), live, nil)
	return &ObjectDiff{Object: r.ID(), Ref: r, Action: DiffDelete, Diff: diff}, err
}

// unifiedDiff renders before -> after as YAML without status and server
// bookkeeping, and with Secret values masked; a nil side is empty.
func unifiedDiff(name string, before, after *unstructured.Unstructured) (string, error) {
	before, after = maskSecrets(before, after)
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

// Masks of Secret values in diffs, as kubectl diff writes them.
const (
	secretMask       = "***"
	secretMaskBefore = "*** (before)"
	secretMaskAfter  = "*** (after)"
)

var secretGK = schema.GroupKind{Kind: "Secret"}

// lastApplied is the annotation kubectl apply keeps the whole applied object
// in, Secret values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// maskSecrets returns copies of before and after with the values of a
// Secret's data and stringData replaced by masks that still show whether a
// value changes, as kubectl diff does, and with the annotations that copy
// those values (kubectl's last-applied configuration, sealift's hash of the
// applied object) masked too. Objects that are not Secrets are returned as
// they are.
func maskSecrets(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	isSecret := func(o *unstructured.Unstructured) bool {
		return o != nil && o.GroupVersionKind().GroupKind() == secretGK
	}
	if !isSecret(before) && !isSecret(after) {
		return before, after
	}
	if before != nil {
		before = before.DeepCopy()
	}
	if after != nil {
		after = after.DeepCopy()
	}
	for _, field := range []string{"data", "stringData"} {
		from, to := secretValues(before, field), secretValues(after, field)
		for k, v := range from {
			if w, ok := to[k]; ok {
				if !reflect.DeepEqual(v, w) {
					from[k], to[k] = secretMaskBefore, secretMaskAfter
					continue
				}
				to[k] = secretMask
			}
			from[k] = secretMask
		}
		for k := range to {
			if _, ok := from[k]; !ok {
				to[k] = secretMask
			}
		}
	}
	for _, key := range []string{lastApplied, AnnotationAppliedHash} {
		var from, to string
		if before != nil {
			from = before.GetAnnotations()[key]
		}
		if after != nil {
			to = after.GetAnnotations()[key]
		}
		mb, ma := secretMask, secretMask
		if from != "" && to != "" && from != to {
			mb, ma = secretMaskBefore, secretMaskAfter
		}
		maskAnnotation(before, key, mb)
		maskAnnotation(after, key, ma)
	}
	return before, after
}

// secretValues returns the map under field of o, to be masked in place, or
// nil.
func secretValues(o *unstructured.Unstructured, field string) map[string]any {
	if o == nil {
		return nil
	}
	m, _ := o.Object[field].(map[string]any)
	return m
}

func maskAnnotation(o *unstructured.Unstructured, key, mask string) {
	if o == nil {
		return
	}
	ann := o.GetAnnotations()
	if _, ok := ann[key]; ok {
		ann[key] = mask
		o.SetAnnotations(ann)
	}
}
