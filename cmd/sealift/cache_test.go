package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

// fillCache caches two artifacts: app (applied by ns/a) and loose (only
// pulled); it returns their manifests and app's layer.
func fillCache(t *testing.T, dir string) (app, loose, layer ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	c, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pack := func(content string) (ocispec.Descriptor, ocispec.Descriptor) {
		l, err := oras.PushBytes(ctx, c, "application/vnd.cncf.flux.content.v1.tar+gzip", []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		m, err := oras.PackManifest(ctx, c, oras.PackManifestVersion1_1, "application/vnd.cncf.flux.config.v1+json",
			oras.PackManifestOptions{Layers: []ocispec.Descriptor{l}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		return m, l
	}
	app, layer = pack("app manifests")
	loose, _ = pack("loose manifests")
	if err := c.Commit(ctx, cache.Revision{Sync: "ns/a", Repository: "registry.test/apps/app", Manifest: app,
		Verdict: cache.Verdict{PolicyHash: "p", Verified: true}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Tag(ctx, loose, "registry.test/apps/loose:1"); err != nil {
		t.Fatal(err)
	}
	return app, loose, layer
}

func TestCacheCommands(t *testing.T) {
	dir := t.TempDir()
	app, loose, layer := fillCache(t, dir)

	// Pin by reference, then list.
	if out, err := runCLI(t, "cache", "pin", "registry.test/apps/loose:1", "--cache-dir", dir); err != nil || !strings.Contains(out, "pinned "+loose.Digest.String()) {
		t.Fatalf("cache pin: %q, %v", out, err)
	}
	out, err := runCLI(t, "cache", "ls", "--cache-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PINNED", app.Digest.String(), "ns/a (applied)", "registry.test/apps/loose"} {
		if !strings.Contains(out, want) {
			t.Errorf("cache ls output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "cache", "ls", "--cache-dir", dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var arts []cache.Artifact
	if err := json.Unmarshal([]byte(out), &arts); err != nil || len(arts) != 2 {
		t.Fatalf("cache ls -o json: %d artifacts, %v:\n%s", len(arts), err, out)
	}
	for _, a := range arts {
		wantPinned := a.Manifest.Digest == loose.Digest
		if a.Pinned != wantPinned {
			t.Errorf("%s pinned = %v; want %v", a.Manifest.Digest, a.Pinned, wantPinned)
		}
	}

	// gc keeps the applied and the pinned artifact.
	if out, err := runCLI(t, "cache", "gc", "--cache-dir", dir); err != nil || !strings.Contains(out, "removed 0 blobs") {
		t.Fatalf("cache gc with everything held: %q, %v", out, err)
	}
	if _, err := runCLI(t, "cache", "unpin", loose.Digest.String(), "--cache-dir", dir); err != nil {
		t.Fatalf("cache unpin: %v", err)
	}
	if _, err := runCLI(t, "cache", "unpin", loose.Digest.String(), "--cache-dir", dir); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("cache unpin twice: %v; want ErrNotFound", err)
	}
	if out, err := runCLI(t, "cache", "gc", "--cache-dir", dir); err != nil || !strings.Contains(out, "removed 2 blobs") {
		t.Fatalf("cache gc after unpin: %q, %v", out, err)
	}

	// verify: clean, then a damaged layer makes it fail and evicts it.
	if out, err := runCLI(t, "cache", "verify", "--cache-dir", dir); err != nil || !strings.Contains(out, "checked") {
		t.Fatalf("cache verify on a clean cache: %q, %v", out, err)
	}
	path := filepath.Join(dir, "blobs", "sha256", layer.Digest.Encoded())
	if err := os.WriteFile(path, []byte("app manifestZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "cache", "verify", "--cache-dir", dir)
	if !errors.Is(err, errdef.ErrCorrupt) || !strings.Contains(out, "evicted corrupt blob "+layer.Digest.String()) {
		t.Fatalf("cache verify on a damaged cache: %q, %v; want ErrCorrupt", out, err)
	}
	if _, err := runCLI(t, "cache", "pin", "sha256:"+strings.Repeat("0", 64), "--cache-dir", dir); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("cache pin of an unknown digest: %v; want ErrNotFound", err)
	}
}
