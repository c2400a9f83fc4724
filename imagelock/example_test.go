package imagelock_test

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/imagelock"
)

// Find the images a Deployment runs, lock them (here with a resolver that
// answers from a table; RegistryResolver asks the registries), and relocate
// one to a mirror by its locked digest.
func Example() {
	var m map[string]any
	_ = yaml.Unmarshal([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  template:
    spec:
      initContainers: [{name: init, image: busybox}]
      containers: [{name: web, image: "nginx:1.25"}]
`), &m)
	objs := []*unstructured.Unstructured{{Object: m}}

	uses, _ := imagelock.Find(objs)
	for _, u := range uses {
		fmt.Println(u.Object, u.Field, u.Image)
	}

	answers := map[string]ocispec.Descriptor{
		"docker.io/library/busybox:latest": {MediaType: ocispec.MediaTypeImageIndex, Digest: digest.Digest(fmt.Sprintf("sha256:%064x", 1)), Size: 2000},
		"docker.io/library/nginx:1.25":     {MediaType: ocispec.MediaTypeImageIndex, Digest: digest.Digest(fmt.Sprintf("sha256:%064x", 2)), Size: 2000},
	}
	resolver := imagelock.ResolverFunc(func(_ context.Context, ref imagelock.Reference) (ocispec.Descriptor, error) {
		return answers[ref.Key()], nil
	})
	lock, _ := imagelock.Build(context.Background(), uses, resolver, imagelock.BuildOptions{})
	data, _ := imagelock.Marshal(lock)
	fmt.Print(string(data))

	mirrors, _ := imagelock.NewMirrors([]imagelock.Mirror{{From: "docker.io", To: "mirror.internal:5000"}})
	locked, _ := imagelock.NewIndex(lock).Lookup("nginx:1.25")
	ref, _ := imagelock.ParseReference("nginx:1.25")
	rule, _ := mirrors.Match(ref)
	moved, _ := rule.Relocate(ref.WithDigest(locked.Digest))
	fmt.Println(moved)
	// Output:
	// Deployment.apps/apps/web spec.template.spec.containers[0].image nginx:1.25
	// Deployment.apps/apps/web spec.template.spec.initContainers[0].image busybox
	// apiVersion: sealift.dev/v1alpha1
	// images:
	// - digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
	//   image: busybox
	//   mediaType: application/vnd.oci.image.index.v1+json
	//   size: 2000
	// - digest: sha256:0000000000000000000000000000000000000000000000000000000000000002
	//   image: nginx:1.25
	//   mediaType: application/vnd.oci.image.index.v1+json
	//   size: 2000
	// kind: ImagesLock
	// mirror.internal:5000/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000002
}
