package render_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/render"
)

func TestRenderTransforms(t *testing.T) {
	relabel := func(value string) render.Transform {
		return render.TransformFunc(func(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
			for _, o := range objs {
				o.SetLabels(map[string]string{"seen": value + o.GetLabels()["seen"]})
			}
			return objs, nil
		})
	}
	boom := errors.New("boom")
	tests := map[string]struct {
		transforms []render.Transform
		want       string // label "seen" of every object
		wantErr    error
	}{
		"none":     {want: ""},
		"in order": {transforms: []render.Transform{relabel("b"), relabel("a")}, want: "ab"},
		"error stops it": {transforms: []render.Transform{render.TransformFunc(func(context.Context, []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
			return nil, boom
		}), relabel("x")}, wantErr: boom},
		"invalid output refused": {wantErr: errdef.ErrInvalidObject, transforms: []render.Transform{render.TransformFunc(func(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
			objs[0].SetName("")
			return objs, nil
		})}},
		"duplicate output refused": {wantErr: errdef.ErrInvalidObject, transforms: []render.Transform{render.TransformFunc(func(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
			return append(objs, objs[0].DeepCopy()), nil
		})}},
		"nil output refused": {wantErr: errdef.ErrInvalidObject, transforms: []render.Transform{render.TransformFunc(func(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
			return append(objs, nil), nil
		})}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, layout := range []map[string]string{
				{"a.yaml": localCM, "b.yaml": strings.Replace(localCM, "name: app", "name: b", 1)},
				{"kustomization.yaml": "resources: [a.yaml, b.yaml]\n", "a.yaml": localCM, "b.yaml": strings.Replace(localCM, "name: app", "name: b", 1)},
			} {
				root := writeTree(t, layout)
				objs, err := render.Render(context.Background(), root, render.Options{Transforms: tc.transforms})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(objs) != 2 {
					t.Fatalf("objects %v", ids(objs))
				}
				for _, o := range objs {
					if got := o.GetLabels()["seen"]; got != tc.want {
						t.Errorf("%s: label seen = %q, want %q", objectID(o), got, tc.want)
					}
				}
			}
		})
	}
}

func TestRenderFileLimit(t *testing.T) {
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		files[n+".yaml"] = strings.Replace(localCM, "name: app", "name: "+n, 1)
	}
	root := writeTree(t, files)
	if _, err := render.Render(context.Background(), root, render.Options{MaxFiles: 3}); err != nil {
		t.Fatalf("three files, limit three: %v", err)
	}
	_, err := render.Render(context.Background(), root, render.Options{MaxFiles: 2})
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want %v", err, errdef.ErrSizeExceedsLimit)
	}
	files["kustomization.yaml"] = "resources: [a.yaml]\n"
	_, err = render.Render(context.Background(), writeTree(t, files), render.Options{MaxFiles: 3})
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("kustomize: err = %v, want %v", err, errdef.ErrSizeExceedsLimit)
	}
}
