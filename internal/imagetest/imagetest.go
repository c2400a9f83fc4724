// Package imagetest builds small container images with go-containerregistry
// and pushes them to a test registry, so that tests lock, relocate and mirror
// real images: single-platform images and multi-platform indexes. Only tests
// import it.
package imagetest

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platforms are those of the indexes Index builds.
var Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// Image pushes an OCI image of one random layer of size bytes to ref
// (host/repo:tag, plain HTTP) and returns its manifest descriptor.
func Image(t testing.TB, ref string, size int64) ocispec.Descriptor {
	t.Helper()
	img := newImage(t, size)
	r := parse(t, ref)
	if err := remote.Write(r, img, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push image %s: %v", ref, err)
	}
	return descriptorOf(t, img)
}

// Index pushes an OCI index of one image per platform in Platforms, each of
// one random layer of size bytes, to ref and returns the index descriptor
// and those of its manifests.
func Index(t testing.TB, ref string, size int64) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	var manifests []ocispec.Descriptor
	for _, p := range Platforms {
		img := newImage(t, size)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		manifests = append(manifests, descriptorOf(t, img))
	}
	r := parse(t, ref)
	if err := remote.WriteIndex(r, idx, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw))}, manifests
}

func newImage(t testing.TB, size int64) v1.Image {
	t.Helper()
	layer, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

func descriptorOf(t testing.TB, img v1.Image) ocispec.Descriptor {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
}

func parse(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("image reference %s: %v", ref, err)
	}
	return r
}
