package cache_test

import (
	"context"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/cache"
)

// A reconcile copies the verified digest into the cache, applies it, and
// commits what it applied; a later reconcile (or an offline one) reads it
// back from the cache alone.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sealift-cache-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// Stands in for the registry: one artifact tagged 1.0.0.
	registry := memory.New()
	layer, _ := oras.PushBytes(ctx, registry, "application/vnd.cncf.flux.content.v1.tar+gzip", []byte("manifests"))
	config, _ := oras.PushBytes(ctx, registry, "application/vnd.cncf.flux.config.v1+json", []byte("{}"))
	manifest, _ := oras.PackManifest(ctx, registry, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &config,
		Layers:              []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"},
	})
	_ = registry.Tag(ctx, manifest, "1.0.0")

	c, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	desc, err := oras.Copy(ctx, registry, "1.0.0", c, "registry.example/apps/podinfo:1.0.0", oras.DefaultCopyOptions)
	if err != nil {
		panic(err)
	}
	err = c.Commit(ctx, cache.Revision{
		Sync:       "apps/podinfo",
		Repository: "registry.example/apps/podinfo",
		Manifest:   desc,
		Verdict:    cache.Verdict{PolicyHash: "policy-1", Verified: true, Signers: []string{"cosign.pub"}},
		Inventory:  []string{"apps/Deployment/podinfo"},
	})
	if err != nil {
		panic(err)
	}

	rev, ok, _ := c.LastApplied(ctx, "apps/podinfo")
	verdict, _, _ := c.Verdict(ctx, rev.Manifest.Digest.String(), "policy-1")
	data, _ := content.FetchAll(ctx, c, layer)
	fmt.Println("applied:", ok, rev.Manifest.Digest)
	fmt.Println("verified:", verdict.Verified, verdict.Signers)
	fmt.Printf("layer: %s\n", data)
	// Output:
	// applied: true sha256:f8c2d7ff725b0ba818fbb564f3d82b1abc9673fda19bf830210f55112a792c46
	// verified: true [cosign.pub]
	// layer: manifests
}

// A pinned artifact stays through GC after its sync moved on and its
// revision left the history.
func ExampleCache_Pin() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sealift-cache-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	c, err := cache.Open(ctx, dir, cache.Options{Retention: 1, GCGracePeriod: -1})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	release := func(version string) ocispec.Descriptor {
		layer, _ := oras.PushBytes(ctx, c, "application/vnd.cncf.flux.content.v1.tar+gzip", []byte("manifests "+version))
		m, _ := oras.PackManifest(ctx, c, oras.PackManifestVersion1_1, "application/vnd.cncf.flux.config.v1+json", oras.PackManifestOptions{
			Layers:              []ocispec.Descriptor{layer},
			ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z", "version": version},
		})
		if err := c.Commit(ctx, cache.Revision{Sync: "apps/podinfo", Manifest: m}); err != nil {
			panic(err)
		}
		return m
	}
	first := release("1.0.0")
	if err := c.Pin(ctx, first.Digest); err != nil {
		panic(err)
	}
	release("1.1.0")
	release("1.2.0") // 1.0.0 leaves the history (retention 1)

	report, _ := c.GC(ctx)
	list, _ := c.List(ctx)
	for _, a := range list {
		fmt.Println(a.Manifest.Annotations["version"], "pinned:", a.Pinned, "used by:", a.UsedBy)
	}
	fmt.Println("removed:", report.RemovedBlobs)
	// Unordered output:
	// 1.0.0 pinned: true used by: []
	// 1.1.0 pinned: false used by: [apps/podinfo]
	// 1.2.0 pinned: false used by: [apps/podinfo]
	// removed: 0
}
