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
)

// Change is the outcome of applying one object.
type Change struct {
	// Object is "Kind/namespace/name", or "Kind/name" when cluster-scoped.
	Object string `json:"object"`
	Action Action `json:"action"`
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

// String renders one "Object action" line per change.
func (c *ChangeSet) String() string {
	var b strings.Builder
	for _, ch := range c.Changes {
		fmt.Fprintf(&b, "%s %s\n", ch.Object, ch.Action)
	}
	return b.String()
}

// ObjectID names obj as Change.Object does.
func ObjectID(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + "/" + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + "/" + obj.GetName()
}

// ApplyError is the failure to apply (or to prepare to apply) one object.
type ApplyError struct {
	// Object is the object's ID as in Change.Object.
	Object string
	Err    error
}

func (e *ApplyError) Error() string { return "apply " + e.Object + ": " + e.Err.Error() }

func (e *ApplyError) Unwrap() error { return e.Err }
