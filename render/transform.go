package render

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/object"
)

// Transform changes rendered objects before they are applied: image
// relocation plugs in here. It may modify the objects it is given and
// returns the objects to apply, in order.
type Transform interface {
	Transform(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error)
}

// TransformFunc adapts a function to a Transform.
type TransformFunc func(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error)

// Transform calls f.
func (f TransformFunc) Transform(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	return f(ctx, objs)
}

// transform runs ts in order and checks what the last one returns the way
// rendered objects are checked: each valid, none duplicated.
func transform(ctx context.Context, objs []*unstructured.Unstructured, ts []Transform) ([]*unstructured.Unstructured, error) {
	if len(ts) == 0 {
		return objs, nil
	}
	for i, t := range ts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		if objs, err = t.Transform(ctx, objs); err != nil {
			name := fmt.Sprintf("transform %d", i+1)
			if n, ok := t.(interface{ Name() string }); ok {
				name = n.Name()
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	seen := map[object.Key]string{}
	for i, obj := range objs {
		where := fmt.Sprintf("transformed object %d", i+1)
		if obj == nil {
			return nil, fmt.Errorf("%s: %w: nil object", where, errdef.ErrInvalidObject)
		}
		if isList(obj) {
			return nil, fmt.Errorf("%s: %w: a %s is not an object to apply", where, errdef.ErrInvalidObject, obj.GetKind())
		}
		if err := object.Validate(obj); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := object.CheckDuplicate(seen, obj, where); err != nil {
			return nil, err
		}
	}
	return objs, nil
}
