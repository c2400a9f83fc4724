package cache_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	oraserrdef "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/cache"
)

const (
	fluxConfigType  = "application/vnd.cncf.flux.config.v1+json"
	fluxContentType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// artifact is a packed test artifact: its manifest, config and layers.
type artifact struct {
	manifest ocispec.Descriptor
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
}

// blobs returns the digests of every blob of the artifact.
func (a artifact) blobs() []string {
	out := []string{a.manifest.Digest.String(), a.config.Digest.String()}
	for _, l := range a.layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// pack pushes a Flux-style artifact (config, the given layers, a manifest
// annotated with name) to s. Equal inputs give equal digests.
func pack(t testing.TB, s content.Storage, name string, layers ...string) artifact {
	t.Helper()
	ctx := context.Background()
	a := artifact{config: pushBytes(t, s, fluxConfigType, []byte(`{}`))}
	for _, l := range layers {
		a.layers = append(a.layers, pushBytes(t, s, fluxContentType, []byte(l)))
	}
	m, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &a.config,
		Layers:           a.layers,
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationCreated: "1970-01-01T00:00:00Z",
			ocispec.AnnotationTitle:   name,
		},
	})
	if err != nil {
		t.Fatalf("pack %s: %v", name, err)
	}
	a.manifest = m
	return a
}

// pushBytes pushes data unless it is already there.
func pushBytes(t testing.TB, s content.Storage, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := s.Push(context.Background(), desc, bytes.NewReader(data)); err != nil && !errors.Is(err, oraserrdef.ErrAlreadyExists) {
		t.Fatalf("push %s: %v", desc.Digest, err)
	}
	return desc
}

// open opens a cache in dir and closes it when the test ends.
func open(t testing.TB, dir string, opts cache.Options) *cache.Cache {
	t.Helper()
	c, err := cache.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("open cache: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// blobFile is the path of a blob file in the cache directory.
func blobFile(dir string, desc ocispec.Descriptor) string {
	return filepath.Join(dir, "blobs", "sha256", desc.Digest.Encoded())
}

// blobFiles lists the digests of the blob files in the cache directory.
func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, "sha256:"+e.Name())
	}
	slices.Sort(out)
	return out
}

// commit records a as the revision applied by sync.
func commit(t testing.TB, c *cache.Cache, sync string, a artifact) {
	t.Helper()
	err := c.Commit(context.Background(), cache.Revision{
		Sync:       sync,
		Repository: "registry.test/apps/" + sync,
		Manifest:   a.manifest,
		Verdict:    cache.Verdict{Digest: a.manifest.Digest.String(), PolicyHash: "p1", Verified: true, Signers: []string{"key:abc"}},
		Inventory:  []string{"apps/v1/Deployment/default/" + sync},
	})
	if err != nil {
		t.Fatalf("commit %s: %v", sync, err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
