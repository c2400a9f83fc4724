package render_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

// An artifact holding a kustomization is extracted from a content store (a
// memory store here; the cache or a registry in use) and rendered, with a
// transform run on the result.
func ExampleFromArtifact() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("namePrefix: prod-\nresources: [app.yaml]\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: web\n"), 0o644)

	store := memory.New()
	desc, err := push.Pack(ctx, dir, push.Options{}, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	label := render.TransformFunc(func(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
		for _, o := range objs {
			o.SetLabels(map[string]string{"relocated": "true"})
		}
		return objs, nil
	})
	objs, err := render.FromArtifact(ctx, store, desc, render.ArtifactOptions{
		Render: render.Options{Transforms: []render.Transform{label}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range objs {
		fmt.Println(o.GetKind(), o.GetNamespace(), o.GetName(), o.GetLabels()["relocated"])
	}
	// Output:
	// ConfigMap web prod-app true
}

// A remote base is refused before kustomize runs: nothing is fetched.
func ExampleRender() {
	dir, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n- https://example.com/org/repo//deploy?ref=main\n"), 0o644)

	_, err := render.Render(context.Background(), dir, render.Options{})
	fmt.Println(err)
	// Output:
	// kustomization.yaml: resources entry "https://example.com/org/repo//deploy?ref=main": unsupported media type: kustomize would clone it as a git repository; remote bases are not supported
}
