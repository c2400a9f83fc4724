package object

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sealift-dev/sealift/errdef"
)

// Validate checks the fields every object needs to be applied.
func Validate(obj *unstructured.Unstructured) error {
	apiVersion, _ := obj.Object["apiVersion"].(string)
	kind, _ := obj.Object["kind"].(string)
	var missing []string
	if apiVersion == "" {
		missing = append(missing, "apiVersion")
	}
	if kind == "" {
		missing = append(missing, "kind")
	}
	meta, isMap := obj.Object["metadata"].(map[string]any)
	if _, present := obj.Object["metadata"]; present && !isMap {
		return fmt.Errorf("%w: metadata is not an object", errdef.ErrInvalidObject)
	}
	name, _ := meta["name"].(string)
	if name == "" {
		missing = append(missing, "metadata.name")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", errdef.ErrInvalidObject, strings.Join(missing, ", "))
	}
	if _, err := schema.ParseGroupVersion(apiVersion); err != nil {
		return fmt.Errorf("%w: apiVersion %q: %w", errdef.ErrInvalidObject, apiVersion, err)
	}
	if ns, present := meta["namespace"]; present {
		if s, ok := ns.(string); !ok {
			return fmt.Errorf("%w: metadata.namespace is not a string", errdef.ErrInvalidObject)
		} else if s != "" {
			if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
				return fmt.Errorf("%w: metadata.namespace %q: %s", errdef.ErrInvalidObject, s, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

// Key identifies an object the way the API server does, ignoring the
// version: two versions of one object are still one object.
type Key struct {
	group, kind, namespace, name string
}

// KeyOf returns the key of obj.
func KeyOf(obj *unstructured.Unstructured) Key {
	gvk := obj.GroupVersionKind()
	return Key{gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName()}
}

// String renders the key as Kind[.group]/[namespace/]name.
func (k Key) String() string {
	gk := k.kind
	if k.group != "" {
		gk += "." + k.group
	}
	if k.namespace == "" {
		return gk + "/" + k.name
	}
	return gk + "/" + k.namespace + "/" + k.name
}

// CheckDuplicate records obj, found at where, in seen, and fails with
// errdef.ErrInvalidObject when an object with its key was seen before.
func CheckDuplicate(seen map[Key]string, obj *unstructured.Unstructured, where string) error {
	k := KeyOf(obj)
	if first, dup := seen[k]; dup {
		return fmt.Errorf("%s: %w: duplicate object %s, first defined at %s", where, errdef.ErrInvalidObject, k, first)
	}
	seen[k] = where
	return nil
}
