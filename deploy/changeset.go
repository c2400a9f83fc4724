package deploy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Action is what applying one object did.
type Action string

const (
	// ActionCreated: the object did not exist and was created.
	ActionCreated Action = "created"
	// ActionConfigured: the object existed and the apply changed it.
	ActionConfigured Action = "configured"
	// ActionUnchanged: the object already matched the artifact; the API
	// server wrote nothing.
	ActionUnchanged Action = "unchanged"
	// ActionRecreated: an immutable field changed and, with Force, the
	// object was deleted and created again.
	ActionRecreated Action = "recreated"
	// ActionDeleted: prune deleted the object.
	ActionDeleted Action = "deleted"
	// ActionSkipped: prune left the object in place; Reason says why.
	ActionSkipped Action = "skipped"
)

// Change is the outcome of applying one object.
type Change struct {
	// Object is "Kind/namespace/name", or "Kind/name" when cluster-scoped.
	Object string `json:"object"`
	Action Action `json:"action"`
	// Ref identifies the object with its group, for the inventory.
	Ref ObjectRef `json:"-"`
	// Adopted is true when the object existed without the owner's
	// ownership labels and this apply took it over.
	Adopted bool `json:"adopted,omitempty"`
	// TookFrom names the other field managers this apply took fields from
	// (a `kubectl edit` of a field the artifact sets, say).
	TookFrom []string `json:"tookFrom,omitempty"`
	// Reason explains a recreate or a skip.
	Reason string `json:"reason,omitempty"`
}

// ChangeSet lists the outcome of every object applied, stage by stage, in
// the order the objects were given within a stage.
type ChangeSet struct {
	Changes []Change `json:"changes"`
}

// Count returns how many changes have action a.
func (c *ChangeSet) Count(a Action) int {
	n := 0
	for _, ch := range c.Changes {
		if ch.Action == a {
			n++
		}
	}
	return n
}

// String renders one "Object action" line per change, with what else the
// change did in parentheses.
func (c *ChangeSet) String() string {
	var b strings.Builder
	for _, ch := range c.Changes {
		fmt.Fprintf(&b, "%s %s", ch.Object, ch.Action)
		var notes []string
		if ch.Adopted {
			notes = append(notes, "adopted")
		}
		if len(ch.TookFrom) > 0 {
			notes = append(notes, "took fields from "+strings.Join(ch.TookFrom, ", "))
		}
		if ch.Reason != "" {
			notes = append(notes, ch.Reason)
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, "; "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Inventory returns the objects the change set applied (every action but
// deleted and skipped): what the owner's inventory must hold afterwards.
func (c *ChangeSet) Inventory() Inventory {
	refs := make([]ObjectRef, 0, len(c.Changes))
	for _, ch := range c.Changes {
		if ch.Action != ActionDeleted && ch.Action != ActionSkipped {
			refs = append(refs, ch.Ref)
		}
	}
	return NewInventory(refs...)
}

// ObjectID names obj as Change.Object does.
func ObjectID(obj *unstructured.Unstructured) string { return RefOf(obj).ID() }

// ApplyError is the failure to apply (or to prepare to apply) one object.
type ApplyError struct {
	// Object is the object's ID as in Change.Object.
	Object string
	Err    error
}

func (e *ApplyError) Error() string { return "apply " + e.Object + ": " + e.Err.Error() }

func (e *ApplyError) Unwrap() error { return e.Err }
