package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"

	"github.com/sealift-dev/sealift/errdef"
)

const (
	// CRDEstablishTimeout bounds the wait for applied CRDs to be established
	// and served: the API server does it in well under a second; a minute
	// means something is wrong.
	CRDEstablishTimeout = time.Minute
	// crdPollInterval is how often the CRD conditions and discovery are polled.
	crdPollInterval = 200 * time.Millisecond
	// RecreateTimeout bounds the wait for a deleted object to go before it
	// is created again: finalizers that take longer need a person.
	RecreateTimeout = time.Minute
)

// clusterDefinitions are the kinds applied in stage 1: they define names or
// types that the other objects rely on, and none depends on a namespace.
var clusterDefinitions = map[schema.GroupKind]bool{
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: true,
	{Group: "", Kind: "Namespace"}:                                    true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:  true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                   true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:               true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                      true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                true,
}

var (
	crdGK       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	configMapGK = schema.GroupKind{Kind: "ConfigMap"}
)

// planned is one object ready to apply.
type planned struct {
	obj        *unstructured.Unstructured
	gvr        schema.GroupVersionResource
	namespaced bool
	deferred   bool   // kind defined by a CRD of this set: map after stage 1
	source     string // the object's ID as given, for error messages
	known      bool   // live was listed: nil means the object does not exist
	live       *unstructured.Unstructured
	presumeNew bool // not in the set's previous inventory: dry-run before any read

	// Set by previewOne, read by writeOne.
	change   Change // the outcome once written
	body     []byte // obj encoded, when it is to be written
	recreate bool   // delete live, then create
}

// ApplyAllStaged applies objs with server-side apply, forcing ownership of
// every field they set. Stage 1 holds CustomResourceDefinitions, Namespaces
// and other cluster-scoped definitions; once they are applied and the CRDs
// established, stage 2 applies the rest. Objects are not modified.
//
// Before anything is applied, every object must map to a resource the API
// server serves or that a CRD in objs defines, must have a namespace when
// namespaced (from ApplyOptions.TargetNamespace or its own), and must be
// unique; otherwise nothing is applied. Unknown kinds fail with an
// *ApplyError wrapping the RESTMapper's no-match error (not terminal: the
// CRD may be installed later); malformed or rejected objects wrap
// errdef.ErrInvalidObject. An object named like a sync's inventory (a
// ConfigMap named "sealift-inventory-*", in any namespace) and, with a
// TargetNamespace and without AllowClusterScoped, a cluster-scoped object
// are refused with errdef.ErrPolicyViolation.
//
// Then every object is validated by the API server with a dry-run apply
// before the first write, so one object the server refuses (a bad field
// value, an admission denial, a policy refusal) applies nothing. Objects the
// server cannot check yet are checked once their stage is about to be
// written, before any object of that stage is: those in a Namespace the set
// creates and those whose kind a CRD of the set defines. A refusal then
// leaves stage 1 applied and stage 2 untouched. Role bindings that refer to
// a role of the set are checked and written after the rest of their stage,
// once the role exists (the API server checks a binding against its role's
// rules), so refusing one leaves the rest of its stage applied.
//
// Every object is applied with AnnotationAppliedHash (and, with an Owner,
// the ownership labels) added. The live objects are listed per resource and
// namespace where a stage holds several, else read one by one. An object
// whose live copy carries the same hash and every field the object sets,
// with the same values, is unchanged without a request of its own.
// Otherwise unchanged objects are detected with the dry-run apply compared
// to the live object, ignoring the resourceVersion and other managers'
// managed fields: when neither the content nor the fields sealift owns
// would change, nothing is written. Comparing resourceVersions instead
// would report a no-op as configured, because the API server records a
// "before-first-apply" entry on the second apply of an object whose apply
// owns no fields (a bare Namespace).
//
// With an Owner, an existing object without the owner's labels is adopted
// or refused by the adoption policy (errdef.ErrPolicyViolation). A change
// the API server refuses as touching an immutable field fails with
// errdef.ErrInvalidObject naming the field, or recreates the object with
// ApplyOptions.Force.
//
// The returned ChangeSet lists what was applied even when err is non-nil:
// a caller keeping an inventory must record those objects too, or a failed
// apply orphans what it created.
func (m *Manager) ApplyAllStaged(ctx context.Context, objs []*unstructured.Unstructured) (*ChangeSet, error) {
	return m.applyAllStaged(ctx, objs, nil)
}

// ApplyAllStagedOver is ApplyAllStaged for a set whose previous apply
// recorded the inventory previous (nil when the set was never applied).
// An object previous does not list is presumed new: it is validated with a
// dry-run apply before any read, and read only when that shows it exists.
// A new object then costs a dry run and a write instead of a read, a dry
// run and a write; an object presumed new wrongly (adopted, or its
// inventory lost) costs one request more, and is handled as any existing
// object, adoption policy included. The outcome is the same either way.
func (m *Manager) ApplyAllStagedOver(ctx context.Context, objs []*unstructured.Unstructured, previous Inventory) (*ChangeSet, error) {
	return m.applyAllStaged(ctx, objs, func(r ObjectRef) bool { return !previous.Contains(r) })
}

// applyAllStaged is ApplyAllStaged, presuming new the objects presumeNew
// (when set) says are.
func (m *Manager) applyAllStaged(ctx context.Context, objs []*unstructured.Unstructured, presumeNew func(ObjectRef) bool) (*ChangeSet, error) {
	cs := &ChangeSet{}
	plans, err := m.plan(ctx, objs)
	if err != nil {
		return cs, err
	}
	if presumeNew != nil {
		for _, p := range plans {
			p.presumeNew = presumeNew(RefOf(p.obj))
		}
	}
	var stage1, stage2 []*planned
	for _, p := range plans {
		if clusterDefinitions[p.obj.GroupVersionKind().GroupKind()] {
			stage1 = append(stage1, p)
		} else {
			stage2 = append(stage2, p)
		}
	}

	// Validate everything the API server can check before writing anything.
	stage1, late1 := splitLate(stage1, plans)
	stage2, late2 := splitLate(stage2, plans)
	if err := m.previewStage(ctx, stage1); err != nil {
		return cs, err
	}
	created := map[string]bool{} // Namespaces this apply creates
	for _, p := range stage1 {
		if p.obj.GroupVersionKind().GroupKind() == nsGK && p.change.Action == ActionCreated {
			created[p.obj.GetName()] = true
		}
	}
	var now, later []*planned
	for _, p := range stage2 {
		if p.deferred || (p.namespaced && created[p.obj.GetNamespace()]) {
			later = append(later, p)
		} else {
			now = append(now, p)
		}
	}
	if err := m.previewStage(ctx, now); err != nil {
		return cs, err
	}

	if err := m.writeStage(ctx, stage1, cs); err != nil {
		return cs, err
	}
	if err := m.previewStage(ctx, late1); err != nil {
		return cs, err
	}
	if err := m.writeStage(ctx, late1, cs); err != nil {
		return cs, err
	}
	if err := m.waitEstablished(ctx, stage1); err != nil {
		return cs, err
	}
	if err := m.mapDeferred(ctx, later); err != nil {
		return cs, err
	}
	if err := m.previewStage(ctx, later); err != nil {
		return cs, err
	}
	if err := m.writeStage(ctx, stage2, cs); err != nil {
		return cs, err
	}
	if err := m.previewStage(ctx, late2); err != nil {
		return cs, err
	}
	if err := m.writeStage(ctx, late2, cs); err != nil {
		return cs, err
	}
	return cs, nil
}

// Kinds of the role bindings and the roles they refer to.
var (
	rbacGroup  = "rbac.authorization.k8s.io"
	bindingGKs = map[schema.GroupKind]bool{{Group: rbacGroup, Kind: "RoleBinding"}: true, {Group: rbacGroup, Kind: "ClusterRoleBinding"}: true}
	roleGKs    = map[schema.GroupKind]bool{{Group: rbacGroup, Kind: "Role"}: true, {Group: rbacGroup, Kind: "ClusterRole"}: true}
)

// splitLate takes out of stage the role bindings that refer to a role of
// the set (plans): the API server checks a binding against the rules of its
// role (unless the user may bind or escalate), so such a binding can only be
// validated, and written, once the role is, after the rest of its stage.
func splitLate(stage, plans []*planned) (rest, late []*planned) {
	roles := map[ObjectRef]bool{}
	for _, p := range plans {
		if roleGKs[p.obj.GroupVersionKind().GroupKind()] {
			roles[RefOf(p.obj)] = true
		}
	}
	for _, p := range stage {
		if bindingGKs[p.obj.GroupVersionKind().GroupKind()] {
			kind, _, _ := unstructured.NestedString(p.obj.Object, "roleRef", "kind")
			name, _, _ := unstructured.NestedString(p.obj.Object, "roleRef", "name")
			ref := ObjectRef{Group: rbacGroup, Kind: kind, Name: name}
			if kind == "Role" {
				ref.Namespace = p.obj.GetNamespace()
			}
			if roles[ref] {
				late = append(late, p)
				continue
			}
		}
		rest = append(rest, p)
	}
	return rest, late
}

// plan copies and validates every object, resolves its resource and scope,
// sets namespaces and rejects duplicates, failing before anything is applied.
func (m *Manager) plan(ctx context.Context, objs []*unstructured.Unstructured) ([]*planned, error) {
	// Kinds defined by CRDs in this set: group/kind/version -> namespaced.
	defined := map[schema.GroupVersionKind]bool{}
	for _, o := range objs {
		if o != nil && o.GroupVersionKind().GroupKind() == crdGK {
			for gvk, namespaced := range crdKinds(o) {
				defined[gvk] = namespaced
			}
		}
	}

	var errs []error
	plans := make([]*planned, 0, len(objs))
	refreshed := false
	for i, o := range objs {
		if o == nil {
			errs = append(errs, &ApplyError{Object: fmt.Sprintf("#%d", i), Err: fmt.Errorf("%w: nil object", errdef.ErrInvalidObject)})
			continue
		}
		obj := o.DeepCopy()
		id := ObjectID(obj)
		if err := validateObject(obj); err != nil {
			errs = append(errs, &ApplyError{Object: id, Err: err})
			continue
		}
		gvk := obj.GroupVersionKind()
		p := &planned{obj: obj, source: id}
		mapping, err := m.mapper.RESTMapping(ctx, gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			if namespaced, ok := defined[gvk]; ok {
				p.deferred, p.namespaced, err = true, namespaced, nil
			} else if !refreshed {
				refreshed = true
				m.mapper.Reset()
				mapping, err = m.mapper.RESTMapping(ctx, gvk.GroupKind(), gvk.Version)
			}
		}
		switch {
		case meta.IsNoMatchError(err):
			errs = append(errs, &ApplyError{Object: id, Err: fmt.Errorf("unknown kind %s: the API server serves no such resource and no CustomResourceDefinition in the set defines it: %w", gvk, err)})
			continue
		case err != nil:
			return nil, fmt.Errorf("deploy: map %s: %w", gvk, err)
		case mapping != nil:
			p.gvr = mapping.Resource
			p.namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
		}
		if p.namespaced {
			if m.namespace != "" {
				obj.SetNamespace(m.namespace)
			}
			if obj.GetNamespace() == "" {
				errs = append(errs, &ApplyError{Object: id, Err: fmt.Errorf("%w: namespaced object has no namespace and no target namespace is set", errdef.ErrInvalidObject)})
				continue
			}
		} else {
			obj.SetNamespace("")
			if m.namespace != "" && !m.allowClusterScoped {
				errs = append(errs, &ApplyError{Object: id, Err: fmt.Errorf("%w: cluster-scoped object refused: target namespace %q confines this apply to one namespace (allow cluster-scoped objects to apply it)",
					errdef.ErrPolicyViolation, m.namespace)})
				continue
			}
		}
		if gvk.GroupKind() == configMapGK && strings.HasPrefix(obj.GetName(), inventoryPrefix) {
			errs = append(errs, &ApplyError{Object: id, Err: fmt.Errorf("%w: a ConfigMap named %s* is a sync's inventory, which only sealift writes; an artifact shipping one could make a prune delete any object",
				errdef.ErrPolicyViolation, inventoryPrefix)})
			continue
		}
		if !m.owner.IsZero() {
			labels := obj.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			maps.Copy(labels, m.owner.labels())
			obj.SetLabels(labels)
		}
		if err := stampHash(obj); err != nil {
			errs = append(errs, &ApplyError{Object: id, Err: err})
			continue
		}
		plans = append(plans, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	seen := map[objectKey]string{}
	for _, p := range plans {
		if err := checkDuplicate(seen, p.obj, p.source); err != nil {
			errs = append(errs, err)
		}
	}
	return plans, errors.Join(errs...)
}

// crdKinds returns the kinds a CRD object defines, per served version, with
// whether they are namespaced.
func crdKinds(crd *unstructured.Unstructured) map[schema.GroupVersionKind]bool {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	out := map[schema.GroupVersionKind]bool{}
	for _, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := vm["name"].(string)
		if served, ok := vm["served"].(bool); ok && !served {
			continue
		}
		if group != "" && kind != "" && name != "" {
			out[schema.GroupVersionKind{Group: group, Version: name, Kind: kind}] = scope == "Namespaced"
		}
	}
	return out
}

// previewStage validates the objects of stage with the API server, bounded
// concurrency, and decides for each what writeStage will do; nothing is
// written. Every refusal is joined into the returned error.
func (m *Manager) previewStage(ctx context.Context, stage []*planned) error {
	m.prefetch(ctx, stage)
	errs := make([]error, len(stage))
	var g errgroup.Group
	g.SetLimit(m.concurrency)
	for i, p := range stage {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = &ApplyError{Object: ObjectID(p.obj), Err: err}
				return nil
			}
			if err := m.previewOne(ctx, p); err != nil {
				errs[i] = &ApplyError{Object: ObjectID(p.obj), Err: err}
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// writeStage writes the objects of stage that previewStage found to change,
// with bounded concurrency, appending the outcomes in input order and
// joining every failure.
func (m *Manager) writeStage(ctx context.Context, stage []*planned, cs *ChangeSet) error {
	return m.fanOut(len(stage), cs, func(i int) (Change, error) {
		p := stage[i]
		if err := ctx.Err(); err != nil {
			return Change{}, &ApplyError{Object: ObjectID(p.obj), Err: err}
		}
		ch, err := m.writeOne(ctx, p)
		if err != nil {
			return Change{}, &ApplyError{Object: ObjectID(p.obj), Err: err}
		}
		return ch, nil
	})
}

// fanOut runs do for items 0..n-1, at most m.concurrency at once, writing
// into index-addressed slices so the successful changes are appended to cs
// in input order; every failure is joined into the returned error.
func (m *Manager) fanOut(n int, cs *ChangeSet, do func(i int) (Change, error)) error {
	changes := make([]*Change, n)
	errs := make([]error, n)
	var g errgroup.Group
	g.SetLimit(m.concurrency)
	for i := range n {
		g.Go(func() error {
			ch, err := do(i)
			if err != nil {
				errs[i] = err
				return nil
			}
			changes[i] = &ch
			return nil
		})
	}
	_ = g.Wait()
	for _, c := range changes {
		if c != nil {
			cs.Changes = append(cs.Changes, *c)
		}
	}
	return errors.Join(errs...)
}

// previewOne decides how p is applied, asking the API server to validate
// it with a dry-run apply unless the live object shows nothing would change.
// A new object is checked with a dry-run apply answered with its metadata
// alone; an existing one with a dry-run apply whose result, compared with
// the live object, tells whether a write is needed at all. An object
// presumed new and not listed is dry-run first and read only if the answer
// shows it exists.
func (m *Manager) previewOne(ctx context.Context, p *planned) error {
	p.change, p.body, p.recreate = Change{Object: ObjectID(p.obj), Ref: RefOf(p.obj)}, nil, false
	if p.presumeNew && !p.known {
		body, err := p.obj.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		rv, err := m.writeOpts(ctx, p, body, []string{metav1.DryRunAll})
		switch {
		case err == nil && rv == "":
			// Nothing stored answers a dry-run create: the object is new.
			p.change.Action = ActionCreated
			p.body = body
			return nil
		case err != nil && len(immutableFields(err)) == 0:
			return fmt.Errorf("dry run: %w", applyErr(err))
		}
		// It exists: read it and decide as for any existing object.
	}
	r := m.resource(p)
	name := p.obj.GetName()
	live, err := p.live, error(nil)
	if !p.known {
		live, err = r.Get(ctx, name, metav1.GetOptions{})
	} else if live == nil {
		err = apierrors.NewNotFound(p.gvr.GroupResource(), name)
	}
	switch {
	case apierrors.IsNotFound(err):
		body, err := p.obj.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if _, err := m.writeOpts(ctx, p, body, []string{metav1.DryRunAll}); err != nil {
			return fmt.Errorf("dry run: %w", applyErr(err))
		}
		p.change.Action = ActionCreated
		p.body = body
		return nil
	case err != nil:
		return fmt.Errorf("get: %w", err)
	}
	return m.previewExisting(ctx, p, live)
}

// previewExisting is previewOne for an object whose live copy is live.
func (m *Manager) previewExisting(ctx context.Context, p *planned, live *unstructured.Unstructured) error {
	ch := p.change
	if !m.owner.IsZero() && !m.owner.owns(live) {
		if err := m.mayAdopt(live, p.namespaced); err != nil {
			return err
		}
		ch.Adopted = true
	}
	if !ch.Adopted && unchangedLocally(p.obj, live) {
		ch.Action = ActionUnchanged
		p.change = ch
		return nil
	}
	// Encoded once for the dry run and the apply that may follow.
	body, err := p.obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	force := true
	dryRun := metav1.PatchOptions{FieldManager: m.fieldOwner, Force: &force, DryRun: []string{metav1.DryRunAll}}
	preview, err := m.resource(p).Patch(ctx, p.obj.GetName(), types.ApplyPatchType, body, dryRun)
	if err != nil {
		if fields := immutableFields(err); len(fields) > 0 {
			if !m.force {
				return fmt.Errorf("%w: immutable field %s cannot be changed in place; set force to delete and recreate the object: %w",
					errdef.ErrInvalidObject, strings.Join(fields, ", "), err)
			}
			ch.Action = ActionRecreated
			ch.Reason = "immutable field " + strings.Join(fields, ", ")
			p.change, p.body, p.recreate, p.live = ch, body, true, live
			return nil
		}
		return applyErr(err)
	}
	if sameObject(live, preview, m.fieldOwner) {
		ch.Action = ActionUnchanged
		p.change = ch
		return nil
	}
	ch.TookFrom = tookFrom(live, preview, m.fieldOwner)
	ch.Action = ActionConfigured
	p.change, p.body = ch, body
	return nil
}

// writeOne writes p as previewOne decided.
func (m *Manager) writeOne(ctx context.Context, p *planned) (Change, error) {
	switch {
	case p.body == nil:
		return p.change, nil
	case p.recreate:
		if err := m.recreate(ctx, m.resource(p), p.live, p, p.body); err != nil {
			return Change{}, err
		}
	default:
		if err := m.write(ctx, p, p.body); err != nil {
			return Change{}, applyErr(err)
		}
	}
	return p.change, nil
}

// write server-side applies body, p.obj encoded, forcing ownership of every
// field it sets. The response, which no caller reads, is the object's
// metadata alone.
func (m *Manager) write(ctx context.Context, p *planned, body []byte) error {
	_, err := m.writeOpts(ctx, p, body, nil)
	return err
}

// writeOpts is write, as a dry run when dryRun is set, returning the
// resourceVersion of the answer: empty for a dry-run create, which stores
// nothing.
func (m *Manager) writeOpts(ctx context.Context, p *planned, body []byte, dryRun []string) (string, error) {
	var w metadata.ResourceInterface = m.writer.Resource(p.gvr)
	if p.namespaced {
		w = m.writer.Resource(p.gvr).Namespace(p.obj.GetNamespace())
	}
	force := true
	out, err := w.Patch(ctx, p.obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: m.fieldOwner, Force: &force, DryRun: dryRun})
	if err != nil {
		return "", err
	}
	return out.GetResourceVersion(), nil
}

// resource returns the client for p's resource and namespace.
func (m *Manager) resource(p *planned) dynamic.ResourceInterface {
	if p.namespaced {
		return m.client.Resource(p.gvr).Namespace(p.obj.GetNamespace())
	}
	return m.client.Resource(p.gvr)
}

// mayAdopt applies the adoption policy to live, which exists and does not
// carry the owner's labels; namespaced tells its scope.
func (m *Manager) mayAdopt(live *unstructured.Unstructured, namespaced bool) error {
	other, owned := ownerOf(live)
	switch {
	case m.adopt == AdoptAlways:
		return nil
	case m.adopt == AdoptNever:
		return fmt.Errorf("%w: the object exists and was not created by sync %s; adopt policy is %q", errdef.ErrPolicyViolation, m.owner, AdoptNever)
	case owned:
		return fmt.Errorf("%w: the object belongs to sync %s, not %s; set adopt policy %q to take it over", errdef.ErrPolicyViolation, other, m.owner, AdoptAlways)
	case !namespaced:
		return fmt.Errorf("%w: the cluster-scoped object exists and was not created by sync %s; set adopt policy %q to take it over", errdef.ErrPolicyViolation, m.owner, AdoptAlways)
	}
	return nil
}

// recreate deletes live, waits until it is gone and creates p's object
// (body, encoded) in its place. The delete is conditional on live's UID so
// an object replaced meanwhile by someone else is not deleted.
func (m *Manager) recreate(ctx context.Context, r dynamic.ResourceInterface, live *unstructured.Unstructured, p *planned, body []byte) error {
	uid := live.GetUID()
	bg := metav1.DeletePropagationBackground
	err := r.Delete(ctx, live.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("recreate: delete: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, crdPollInterval, RecreateTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := r.Get(ctx, live.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && cur.GetUID() != uid, err
	})
	if err != nil {
		return fmt.Errorf("recreate: wait for the old object to go (finalizers: %v): %w", live.GetFinalizers(), err)
	}
	if err := m.write(ctx, p, body); err != nil {
		return fmt.Errorf("recreate: %w", applyErr(err))
	}
	return nil
}

// immutableFields returns the fields an API server refusal names as
// immutable, or nil when err is not such a refusal.
func immutableFields(err error) []string {
	var se apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &se) || se.Status().Details == nil {
		return nil
	}
	var fields []string
	for _, c := range se.Status().Details.Causes {
		if strings.Contains(c.Message, "immutable") {
			fields = append(fields, c.Field)
		}
	}
	return fields
}

// applyErr marks the API server's refusals of the object itself as terminal.
func applyErr(err error) error {
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
		return fmt.Errorf("%w: %w", errdef.ErrInvalidObject, err)
	}
	return err
}

// sameObject reports whether live and the dry-run result of applying to it
// hold the same content and give owner the same fields. Managed fields of
// other managers and the resourceVersion are bookkeeping, not content: a
// dry run may add a "before-first-apply" entry the real apply would too.
func sameObject(live, preview *unstructured.Unstructured, owner string) bool {
	if !reflect.DeepEqual(appliedFields(live, owner), appliedFields(preview, owner)) {
		return false
	}
	a, b := live.DeepCopy(), preview.DeepCopy()
	for _, o := range []*unstructured.Unstructured{a, b} {
		unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
		unstructured.RemoveNestedField(o.Object, "metadata", "resourceVersion")
	}
	return reflect.DeepEqual(a.Object, b.Object)
}

// tookFrom names the other managers whose fields the apply previewed in
// preview takes over: those whose managed-fields entry shrinks or goes.
func tookFrom(live, preview *unstructured.Unstructured, owner string) []string {
	type key struct{ manager, operation, subresource string }
	after := map[key]any{}
	for _, mf := range preview.GetManagedFields() {
		after[key{mf.Manager, string(mf.Operation), mf.Subresource}] = mf.FieldsV1
	}
	var out []string
	for _, mf := range live.GetManagedFields() {
		k := key{mf.Manager, string(mf.Operation), mf.Subresource}
		if mf.Manager == owner || mf.Manager == "before-first-apply" {
			continue
		}
		if now, ok := after[k]; !ok || !reflect.DeepEqual(now, mf.FieldsV1) {
			if !slices.Contains(out, mf.Manager) {
				out = append(out, mf.Manager)
			}
		}
	}
	return out
}

// appliedFields returns the fields owner manages through apply, or nil.
func appliedFields(obj *unstructured.Unstructured, owner string) any {
	entries, _, _ := unstructured.NestedSlice(obj.Object, "metadata", "managedFields")
	for _, e := range entries {
		em, _ := e.(map[string]any)
		if em["manager"] == owner && em["operation"] == string(metav1.ManagedFieldsOperationApply) && em["subresource"] == nil {
			return em["fieldsV1"]
		}
	}
	return nil
}

// waitEstablished waits until every CRD of the stage is established, failing
// early when the API server refuses a CRD's names.
func (m *Manager) waitEstablished(ctx context.Context, stage []*planned) error {
	for _, p := range stage {
		if p.obj.GroupVersionKind().GroupKind() != crdGK {
			continue
		}
		r := m.client.Resource(p.gvr)
		var last string
		err := wait.PollUntilContextTimeout(ctx, crdPollInterval, CRDEstablishTimeout, true, func(ctx context.Context) (bool, error) {
			crd, err := r.Get(ctx, p.obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				typ, _ := cm["type"].(string)
				status, _ := cm["status"].(string)
				msg, _ := cm["message"].(string)
				switch {
				case typ == "NamesAccepted" && status == "False":
					return false, fmt.Errorf("%w: names not accepted: %s", errdef.ErrInvalidObject, msg)
				case typ == "Established" && status == "True":
					return true, nil
				case typ == "Established":
					last = msg
				}
			}
			return false, nil
		})
		if err != nil {
			if last != "" {
				err = fmt.Errorf("%w (last condition: %s)", err, last)
			}
			return &ApplyError{Object: ObjectID(p.obj), Err: fmt.Errorf("wait for established: %w", err)}
		}
	}
	return nil
}

// mapDeferred resolves the kinds defined by the stage's CRDs once the API
// server serves them, polling discovery until it catches up. Every object is
// mapped before any is applied.
func (m *Manager) mapDeferred(ctx context.Context, stage []*planned) error {
	for _, p := range stage {
		if !p.deferred {
			continue
		}
		gvk := p.obj.GroupVersionKind()
		var mapping *meta.RESTMapping
		err := wait.PollUntilContextTimeout(ctx, crdPollInterval, CRDEstablishTimeout, true, func(context.Context) (bool, error) {
			var err error
			mapping, err = m.mapping(ctx, gvk)
			if meta.IsNoMatchError(err) {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return &ApplyError{Object: ObjectID(p.obj), Err: fmt.Errorf("kind %s not served after its CRD was established: %w", gvk, err)}
		}
		p.gvr, p.deferred = mapping.Resource, false
	}
	return nil
}
