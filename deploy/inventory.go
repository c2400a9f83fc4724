package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealift-dev/sealift/errdef"
)

// Labels and annotations sealift reads and writes on cluster objects.
const (
	// LabelSyncName and LabelSyncNamespace name the sync that applied an
	// object; together they are its ownership labels.
	LabelSyncName      = "sealift.dev/sync-name"
	LabelSyncNamespace = "sealift.dev/sync-namespace"
	// AnnotationPrune set to PruneDisabled keeps an object in the cluster
	// when it leaves the artifact.
	AnnotationPrune = "sealift.dev/prune"
	PruneDisabled   = "disabled"

	// inventoryPrefix prefixes the name of the ConfigMap holding a sync's
	// inventory, in the sync's namespace.
	inventoryPrefix = "sealift-inventory-"
	// inventoryKey is the ConfigMap data key listing the entries, one a line.
	inventoryKey = "entries"
	// MaxInventoryEntries caps an inventory: a ConfigMap holds at most 1 MiB,
	// and 10 000 entries of ~80 bytes leave room to spare.
	MaxInventoryEntries = 10000
)

// ObjectRef identifies one object independently of its API version.
type ObjectRef struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// RefOf returns the reference of obj.
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	gvk := obj.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// GroupKind returns the reference's group and kind.
func (r ObjectRef) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.Group, Kind: r.Kind}
}

// String renders r as "Kind[.group]/namespace/name", or "Kind[.group]/name"
// when cluster-scoped; ParseObjectRef reads it back.
func (r ObjectRef) String() string {
	k := r.Kind
	if r.Group != "" {
		k += "." + r.Group
	}
	if r.Namespace != "" {
		return k + "/" + r.Namespace + "/" + r.Name
	}
	return k + "/" + r.Name
}

// ID is the reference as Change.Object and ObjectID name it.
func (r ObjectRef) ID() string {
	if r.Namespace != "" {
		return r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

// ParseObjectRef parses the form ObjectRef.String writes.
func ParseObjectRef(s string) (ObjectRef, error) {
	parts := strings.Split(s, "/")
	var r ObjectRef
	switch len(parts) {
	case 2:
		r.Name = parts[1]
	case 3:
		r.Namespace, r.Name = parts[1], parts[2]
	default:
		return r, fmt.Errorf("%w: inventory entry %q: want Kind[.group]/[namespace/]name", errdef.ErrInvalidObject, s)
	}
	r.Kind, r.Group, _ = strings.Cut(parts[0], ".")
	if r.Kind == "" || r.Name == "" || (len(parts) == 3 && r.Namespace == "") {
		return r, fmt.Errorf("%w: inventory entry %q: empty kind, namespace or name", errdef.ErrInvalidObject, s)
	}
	return r, nil
}

// Inventory is the set of objects one sync applied, sorted and without
// duplicates. The zero value is empty.
type Inventory []ObjectRef

// NewInventory returns the sorted, de-duplicated set of refs.
func NewInventory(refs ...ObjectRef) Inventory {
	inv := slices.Clone(refs)
	slices.SortFunc(inv, func(a, b ObjectRef) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(inv)
}

// ParseInventory reads entries written by Strings.
func ParseInventory(entries []string) (Inventory, error) {
	refs := make([]ObjectRef, 0, len(entries))
	for _, e := range entries {
		r, err := ParseObjectRef(e)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return NewInventory(refs...), nil
}

// Strings returns one ObjectRef.String per entry, the form kept in the cache.
func (inv Inventory) Strings() []string {
	out := make([]string, len(inv))
	for i, r := range inv {
		out[i] = r.String()
	}
	return out
}

// Contains reports whether r is in inv.
func (inv Inventory) Contains(r ObjectRef) bool {
	_, ok := slices.BinarySearchFunc(inv, r, func(a, b ObjectRef) int { return strings.Compare(a.String(), b.String()) })
	return ok
}

// Minus returns the entries of inv that are not in other: what a new
// inventory other no longer holds.
func (inv Inventory) Minus(other Inventory) Inventory {
	var out Inventory
	for _, r := range inv {
		if !other.Contains(r) {
			out = append(out, r)
		}
	}
	return out
}

// Owner identifies the sync that applies a set of objects. Its ownership
// labels are stamped on every object applied and checked before adopting or
// pruning one.
type Owner struct {
	Name      string
	Namespace string
}

// IsZero reports whether o names no sync.
func (o Owner) IsZero() bool { return o.Name == "" }

func (o Owner) String() string { return o.Namespace + "/" + o.Name }

// labels returns the ownership labels.
func (o Owner) labels() map[string]string {
	return map[string]string{LabelSyncName: o.Name, LabelSyncNamespace: o.Namespace}
}

// owns reports whether obj carries o's ownership labels.
func (o Owner) owns(obj *unstructured.Unstructured) bool {
	l := obj.GetLabels()
	return l[LabelSyncName] == o.Name && l[LabelSyncNamespace] == o.Namespace
}

// ownerOf returns the sync named by obj's ownership labels, if any.
func ownerOf(obj *unstructured.Unstructured) (Owner, bool) {
	l := obj.GetLabels()
	o := Owner{Name: l[LabelSyncName], Namespace: l[LabelSyncNamespace]}
	return o, o.Name != ""
}

func (o Owner) validate() error {
	if o.IsZero() {
		return nil
	}
	if o.Namespace == "" {
		return fmt.Errorf("deploy: owner %q has no namespace: %w", o.Name, errdef.ErrInvalidObject)
	}
	// Label values are at most 63 characters; the inventory ConfigMap name
	// adds a prefix to a 253-character limit.
	if len(o.Name) > 63 || len(o.Namespace) > 63 {
		return fmt.Errorf("deploy: owner %s: name and namespace must be at most 63 characters to fit a label value: %w", o, errdef.ErrInvalidObject)
	}
	return nil
}

// InventoryName is the name of the ConfigMap holding the inventory of the
// sync named name, in the sync's namespace.
func InventoryName(name string) string { return inventoryPrefix + name }

var (
	configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// ReadInventory returns the inventory the cluster holds for the Manager's
// owner; found is false when none was ever written. A lost local cache
// therefore cannot orphan objects.
func (m *Manager) ReadInventory(ctx context.Context) (inv Inventory, found bool, err error) {
	if m.owner.IsZero() {
		return nil, false, fmt.Errorf("deploy: read inventory: the manager has no owner")
	}
	cm, err := m.client.Resource(configMapGVR).Namespace(m.owner.Namespace).Get(ctx, InventoryName(m.owner.Name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("deploy: read inventory of %s: %w", m.owner, err)
	}
	if !m.owner.owns(cm) {
		return nil, false, fmt.Errorf("deploy: ConfigMap %s/%s does not carry the ownership labels of sync %s: %w",
			m.owner.Namespace, cm.GetName(), m.owner, errdef.ErrPolicyViolation)
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", inventoryKey)
	var entries []string
	for line := range strings.SplitSeq(data, "\n") {
		if line != "" {
			entries = append(entries, line)
		}
	}
	inv, err = ParseInventory(entries)
	if err != nil {
		return nil, true, fmt.Errorf("deploy: inventory of %s: %w", m.owner, err)
	}
	return inv, true, nil
}

// WriteInventory records inv as the Manager's owner's inventory, with
// server-side apply, in a ConfigMap in the owner's namespace. It compares
// inv with the record the cluster holds now, not with what the caller read
// earlier, and writes unless they are the same: a record changed meanwhile
// (by hand, or by anything that can write ConfigMaps there) is put back.
func (m *Manager) WriteInventory(ctx context.Context, inv Inventory) error {
	entries, err := m.inventoryEntries(inv)
	if err != nil {
		return err
	}
	live, err := m.client.Resource(configMapGVR).Namespace(m.owner.Namespace).Get(ctx, InventoryName(m.owner.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("deploy: read inventory of %s: %w", m.owner, err)
	default:
		data, _, _ := unstructured.NestedString(live.Object, "data", inventoryKey)
		if data == entries && m.owner.owns(live) && live.GetAnnotations()[AnnotationAppliedHash] == "" {
			return nil
		}
	}
	return m.applyInventory(ctx, entries)
}

// ReplaceInventory records inv as WriteInventory does, without reading the
// record first: for a caller that has just read it (ReadInventory) and
// found none, or one that differs from inv, so that the write is needed
// and the read would only cost a request.
func (m *Manager) ReplaceInventory(ctx context.Context, inv Inventory) error {
	entries, err := m.inventoryEntries(inv)
	if err != nil {
		return err
	}
	return m.applyInventory(ctx, entries)
}

// inventoryEntries checks inv against the limits and renders the record's
// data, one entry a line.
func (m *Manager) inventoryEntries(inv Inventory) (string, error) {
	if m.owner.IsZero() {
		return "", fmt.Errorf("deploy: write inventory: the manager has no owner")
	}
	if len(inv) > MaxInventoryEntries {
		return "", fmt.Errorf("deploy: inventory of %s has %d entries, more than %d: %w", m.owner, len(inv), MaxInventoryEntries, errdef.ErrSizeExceedsLimit)
	}
	return strings.Join(NewInventory(inv...).Strings(), "\n"), nil
}

// applyInventory writes the record holding entries, creating the owner's
// namespace when it is missing.
func (m *Manager) applyInventory(ctx context.Context, entries string) error {
	labels := map[string]any{"app.kubernetes.io/managed-by": "sealift"}
	for k, v := range m.owner.labels() {
		labels[k] = v
	}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      InventoryName(m.owner.Name),
			"namespace": m.owner.Namespace,
			"labels":    labels,
		},
		"data": map[string]any{inventoryKey: entries},
	}}
	apply := func() error {
		_, err := m.client.Resource(configMapGVR).Namespace(m.owner.Namespace).Apply(ctx, cm.GetName(), cm,
			metav1.ApplyOptions{FieldManager: m.fieldOwner, Force: true})
		return err
	}
	err := apply()
	if apierrors.IsNotFound(err) {
		// The sync's own namespace is missing (sync --once against a
		// cluster without the controller): create it, then write.
		ns := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": m.owner.Namespace, "labels": map[string]any{"app.kubernetes.io/managed-by": "sealift"}},
		}}
		if _, nerr := m.client.Resource(namespaceGVR).Apply(ctx, m.owner.Namespace, ns,
			metav1.ApplyOptions{FieldManager: m.fieldOwner, Force: true}); nerr != nil {
			return fmt.Errorf("deploy: create namespace %s for the inventory of %s: %w", m.owner.Namespace, m.owner, nerr)
		}
		err = apply()
	}
	if err != nil {
		return fmt.Errorf("deploy: write inventory of %s: %w", m.owner, err)
	}
	return nil
}
