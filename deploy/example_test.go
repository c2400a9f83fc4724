package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/render"
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

	objs, err := render.Render(context.Background(), root, render.Options{})
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

// A reconcile as a sync runs it: apply, prune what left the artifact behind
// the safety rails, record the inventory in the cluster.
func ExampleManager_Prune() {
	ctx := context.Background()
	// One Manager per cluster, long-lived; each sync's applies take their
	// own options from it.
	base, err := deploy.NewManager(env.Config, deploy.ManagerOptions{})
	if err != nil {
		panic(err)
	}
	m, err := base.With(deploy.ApplyOptions{Owner: deploy.Owner{Name: "shop", Namespace: "default"}})
	if err != nil {
		panic(err)
	}
	release := func(names ...string) {
		objs := []*unstructured.Unstructured{}
		for _, n := range names {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": n, "namespace": "default"},
			}})
		}
		cs, err := m.ApplyAllStaged(ctx, objs)
		if err != nil {
			panic(err)
		}
		old, _, err := m.ReadInventory(ctx)
		if err != nil {
			panic(err)
		}
		pruned, err := m.Prune(ctx, old, cs.Inventory(), deploy.PruneOptions{})
		if err != nil {
			panic(err)
		}
		if err := m.WriteInventory(ctx, deploy.NextInventory(old, cs.Inventory(), pruned)); err != nil {
			panic(err)
		}
		fmt.Print(cs.String() + pruned.String())
	}
	release("shop-a", "shop-b", "shop-c")
	release("shop-a", "shop-b")
	// Output:
	// ConfigMap/default/shop-a created
	// ConfigMap/default/shop-b created
	// ConfigMap/default/shop-c created
	// ConfigMap/default/shop-a unchanged
	// ConfigMap/default/shop-b unchanged
	// ConfigMap/default/shop-c deleted
}
