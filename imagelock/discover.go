package imagelock

import (
	"fmt"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/object"
)

// containerLists are the pod spec fields that hold containers.
var containerLists = []string{"containers", "initContainers", "ephemeralContainers"}

// Use is one image reference found in a rendered object.
type Use struct {
	// Object names the object: Kind[.group]/[namespace/]name.
	Object string `json:"object"`
	// Field is where the reference sits, e.g.
	// spec.template.spec.containers[0].image.
	Field string `json:"field"`
	// Image is the reference as written.
	Image string `json:"image"`
}

// Find returns every image reference in objs, in object order and, within
// an object, in field order (map keys sorted, list items in order). See
// Walk for what counts as an image reference.
func Find(objs []*unstructured.Unstructured) ([]Use, error) {
	var uses []Use
	for _, obj := range objs {
		name := object.KeyOf(obj).String()
		err := Walk(obj, func(field, image string) (string, error) {
			uses = append(uses, Use{Object: name, Field: field, Image: image})
			return image, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return uses, nil
}

// Walk calls fn for every image reference in obj and stores what fn
// returns in its place. An image reference is the string "image" field of
// an item of a "containers", "initContainers" or "ephemeralContainers" list,
// wherever the list sits below the object's top level (apiVersion, kind,
// metadata and status are not searched). That covers a Pod's spec, the pod
// template of every workload (Deployment, StatefulSet, DaemonSet,
// ReplicaSet, ReplicationController, Job, a CronJob's job template) in any
// API version, and custom resources that embed a pod spec (rollouts,
// serverless services, scaled jobs). Image fields of other shapes (a
// pipeline's steps, say) are not found.
//
// An "image" field that is present but not a string is an error naming
// the object and field, as is an object nested deeper than
// limits.MaxObjectDepth: neither may hide an image from the walk. An item
// without an image is skipped; the API server refuses it in a workload.
func Walk(obj *unstructured.Unstructured, fn func(field, image string) (string, error)) error {
	w := walker{obj: obj, fn: fn}
	for _, k := range sortedKeys(obj.Object) {
		switch k {
		case "apiVersion", "kind", "metadata", "status":
			continue
		}
		if err := w.value(obj.Object[k], k, 1); err != nil {
			return err
		}
	}
	return nil
}

type walker struct {
	obj *unstructured.Unstructured
	fn  func(field, image string) (string, error)
}

func (w *walker) fail(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w: %s", object.KeyOf(w.obj), field, errdef.ErrInvalidObject, fmt.Sprintf(format, args...))
}

func (w *walker) value(v any, field string, depth int) error {
	if depth > limits.MaxObjectDepth {
		return w.fail(field, "nested deeper than %d levels", limits.MaxObjectDepth)
	}
	switch t := v.(type) {
	case map[string]any:
		return w.mapping(t, field, depth)
	case []any:
		for i, item := range t {
			if err := w.value(item, field+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) mapping(m map[string]any, field string, depth int) error {
	for _, k := range sortedKeys(m) {
		sub := field + "." + k
		if list, ok := m[k].([]any); ok && slices.Contains(containerLists, k) {
			if err := w.containers(list, sub); err != nil {
				return err
			}
		}
		if err := w.value(m[k], sub, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// containers visits the image of each container in list.
func (w *walker) containers(list []any, field string) error {
	for i, item := range list {
		c, ok := item.(map[string]any)
		if !ok {
			continue
		}
		raw, present := c["image"]
		if !present {
			continue
		}
		f := field + "[" + strconv.Itoa(i) + "].image"
		image, ok := raw.(string)
		if !ok {
			return w.fail(f, "image is a %T, not a string", raw)
		}
		got, err := w.fn(f, image)
		if err != nil {
			return err
		}
		if got != image {
			c["image"] = got
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
