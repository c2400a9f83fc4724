package push_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers: [{name: app, image: %q}]
`, name, name, name, image)
}

// registryLock locks images against reg, as `sealift push --images-lock`
// does.
func registryLock(reg *registrytest.Registry, opts imagelock.BuildOptions) func(context.Context, []*unstructured.Unstructured) (*imagelock.Lock, error) {
	return func(ctx context.Context, objs []*unstructured.Unstructured) (*imagelock.Lock, error) {
		uses, err := imagelock.Find(objs)
		if err != nil {
			return nil, err
		}
		return imagelock.Build(ctx, uses, imagelock.RegistryResolver{PlainHTTP: []string{reg.Host}}, opts)
	}
}

func TestPushWithImagesLock(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	web := imagetest.Image(t, reg.Repo("img/web:1"), 256)
	multi, _ := imagetest.Index(t, reg.Repo("img/multi:2"), 128)
	dir := writeTree(t, map[string]string{
		"-first.yaml": deployment("first", reg.Repo("img/web:1")),
		"web.yaml":    deployment("web", reg.Repo("img/multi:2")),
		"README.md":   "not a manifest",
	})
	opts := push.Options{ImagesLock: registryLock(reg, imagelock.BuildOptions{}), Ignore: []string{"*.md"}}
	store := memory.New()
	desc, lock, err := push.PackLocked(ctx, dir, opts, store)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by reference: img/multi before img/web.
	if len(lock.Images) != 2 || lock.Images[1].Digest != web.Digest.String() || lock.Images[0].Digest != multi.Digest.String() || lock.Images[0].MediaType != multi.MediaType {
		t.Fatalf("lock = %+v; want web at %s and the index %s", lock.Images, web.Digest, multi.Digest)
	}

	// The lock is in the layer, between the entries a walk puts around it.
	m, files := layerOf(t, store, desc)
	data, err := content.FetchAll(ctx, store, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range readLayer(t, data) {
		order = append(order, e.hdr.Name)
	}
	if got, want := strings.Join(order, " "), ". -first.yaml .sealift .sealift/images.yaml web.yaml"; got != want {
		t.Errorf("layer entries %q, want %q", got, want)
	}
	packed, err := imagelock.Parse([]byte(files[imagelock.Path]))
	if err != nil {
		t.Fatal(err)
	}
	if len(packed.Images) != 2 || packed.Images[0] != lock.Images[0] {
		t.Errorf("packed lock %+v differs from the lock returned %+v", packed.Images, lock.Images)
	}

	// Reproducible: the same tree and the same registry give the same digest.
	again, _, err := push.PackLocked(ctx, copyTree(t, dir), opts, memory.New())
	if err != nil || again.Digest != desc.Digest {
		t.Errorf("packing again gave %s, %v; want %s", again.Digest, err, desc.Digest)
	}
	// A tag that moves changes the lock, and so the digest.
	imagetest.Image(t, reg.Repo("img/web:1"), 256)
	moved, _, err := push.PackLocked(ctx, dir, opts, memory.New())
	if err != nil || moved.Digest == desc.Digest {
		t.Errorf("after img/web:1 moved, packing gave %s, %v; want a new digest", moved.Digest, err)
	}
}

func TestPushImagesLockKustomizeAndPaths(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	imagetest.Image(t, reg.Repo("img/a:1"), 64)
	imagetest.Image(t, reg.Repo("img/b:1"), 64)
	lockFn := registryLock(reg, imagelock.BuildOptions{})

	kdir := writeTree(t, map[string]string{
		"kustomization.yaml": "resources: [a.yaml]\nimages:\n- name: " + reg.Repo("img/old") + "\n  newName: " + reg.Repo("img/a") + "\n  newTag: \"1\"\n",
		"a.yaml":             deployment("a", reg.Repo("img/old:0")),
	})
	_, lock, err := push.PackLocked(ctx, kdir, push.Options{Kustomize: true, ImagesLock: lockFn}, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	// The lock holds what the build runs, not what the base wrote.
	if len(lock.Images) != 1 || lock.Images[0].Image != reg.Repo("img/a:1") {
		t.Fatalf("kustomize lock = %+v, want the built image %s", lock.Images, reg.Repo("img/a:1"))
	}

	tree := writeTree(t, map[string]string{
		"prod/kustomization.yaml":    "resources: [a.yaml]\n",
		"prod/a.yaml":                deployment("a", reg.Repo("img/a:1")),
		"staging/kustomization.yaml": "resources: [b.yaml]\n",
		"staging/b.yaml":             deployment("b", reg.Repo("img/b:1")),
	})
	if _, _, err := push.PackLocked(ctx, tree, push.Options{ImagesLock: lockFn}, memory.New()); err == nil || !strings.Contains(err.Error(), "kustomization") {
		t.Errorf("locking a tree of overlays at its root = %v, want an error about the kustomizations below it", err)
	}
	_, lock, err = push.PackLocked(ctx, tree, push.Options{ImagesLock: lockFn, ImagesPaths: []string{"prod", "staging"}}, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if len(lock.Images) != 2 {
		t.Errorf("lock of prod and staging = %+v, want both images", lock.Images)
	}
}

func TestPushImagesLockRefuses(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	imagetest.Image(t, reg.Repo("img/a:1"), 64)
	lockFn := registryLock(reg, imagelock.BuildOptions{})

	own := writeTree(t, map[string]string{"a.yaml": deployment("a", reg.Repo("img/a:1")), ".sealift/images.yaml": "x"})
	if _, err := push.Pack(ctx, own, push.Options{ImagesLock: lockFn}, memory.New()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Pack of a tree holding .sealift = %v, want fs.ErrExist", err)
	}
	// Without --images-lock, a lock the tree holds is packed as any file.
	if _, err := push.Pack(ctx, own, push.Options{}, memory.New()); err != nil {
		t.Errorf("Pack without ImagesLock: %v", err)
	}

	missing := writeTree(t, map[string]string{"a.yaml": deployment("a", reg.Repo("img/a:1")), "b.yaml": deployment("b", reg.Repo("img/nope:1"))})
	_, err := push.Pack(ctx, missing, push.Options{ImagesLock: lockFn}, memory.New())
	var ue *imagelock.UnresolvedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), reg.Repo("img/nope:1")) || !strings.Contains(err.Error(), "Deployment.apps/b") {
		t.Fatalf("Pack with an unresolvable image = %v, want it named with its object", err)
	}
	_, lock, err := push.PackLocked(ctx, missing, push.Options{ImagesLock: registryLock(reg, imagelock.BuildOptions{AllowUnresolved: true})}, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	if len(lock.Images) != 2 || !lock.Images[1].Unresolved {
		t.Errorf("lock with AllowUnresolved = %+v", lock.Images)
	}
}
