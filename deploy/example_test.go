package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealift-dev/sealift/deploy"
)

func ExampleRender() {
	root, err := os.MkdirTemp("", "render-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	manifests := `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: web, namespace: shop}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
`
	if err := os.WriteFile(filepath.Join(root, "app.yaml"), []byte(manifests), 0o644); err != nil {
		panic(err)
	}

	objs, err := deploy.Render(context.Background(), root, deploy.RenderOptions{})
	if err != nil {
		panic(err)
	}
	for _, o := range objs {
		fmt.Println(o.GetAPIVersion(), deploy.ObjectID(o))
	}
	// Output:
	// v1 Namespace/shop
	// v1 ConfigMap/shop/web
	// apps/v1 Deployment/shop/web
}
