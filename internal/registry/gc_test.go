package registry_test

import (
	"context"
	"crypto"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registry"
	"github.com/sealift-dev/sealift/internal/signtest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/verify"
)

// reachable adds to set every digest reachable from desc in repo:
// manifests, indexes, configs, layers and subjects.
func reachable(t *testing.T, repo *remote.Repository, desc ocispec.Descriptor, set map[digest.Digest]bool) {
	t.Helper()
	if set[desc.Digest] {
		return
	}
	set[desc.Digest] = true
	succ, err := content.Successors(context.Background(), repo, desc)
	if err != nil {
		t.Fatalf("successors of %s: %v", desc.Digest, err)
	}
	for _, s := range succ {
		reachable(t, repo, s, set)
	}
}

// referenced is every digest reachable from the repository's tags.
func referenced(t *testing.T, repo *remote.Repository) map[digest.Digest]bool {
	t.Helper()
	ctx := context.Background()
	set := map[digest.Digest]bool{}
	var tags []string
	if err := repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		desc, err := repo.Resolve(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		reachable(t, repo, desc, set)
	}
	return set
}

func sortedKeys(m map[digest.Digest]bool) []digest.Digest {
	return slices.Sorted(maps.Keys(m))
}

// gc deletes exactly the blobs no manifest references (a deleted
// artifact's manifest and layer, a blob pushed without a manifest), and a
// signed artifact with its legacy signature and sigstore bundle stays
// pullable and verifiable. The dry run reports the same and deletes nothing.
func TestGCDeletesExactlyTheUnreferencedBlobs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	key := signtest.NewKeyPair(t)
	srv := start(t, registry.Options{Root: root})
	plain := pull.RemoteOptions{PlainHTTP: true}
	repo := repository(t, srv.Addr, "team/app", plain)

	signed, err := push.Push(ctx, appDir(t, "kept"), repo, "v1", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, repo, signed, srv.Addr+"/team/app", key.Signer); err != nil {
		t.Fatal(err)
	}
	bundle, err := cosignfmt.SignBundle(ctx, repo, signed, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := push.Push(ctx, appDir(t, "dropped"), repo, "v2", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	droppedGraph := map[digest.Digest]bool{}
	reachable(t, repo, dropped, droppedGraph)
	if err := repo.Delete(ctx, dropped); err != nil {
		t.Fatal(err)
	}
	stray := content.NewDescriptorFromBytes("application/octet-stream", []byte("uploaded, never referenced"))
	if err := repo.Push(ctx, stray, strings.NewReader("uploaded, never referenced")); err != nil {
		t.Fatal(err)
	}

	keep := referenced(t, repo)
	if !keep[bundle.Digest] || !keep[signed.Digest] {
		t.Fatalf("the tags do not reach the artifact and its bundle: %v", sortedKeys(keep))
	}
	onDisk := blobsOnDisk(t, root)
	want := map[digest.Digest]bool{}
	for d := range onDisk {
		if !keep[d] {
			want[d] = true
		}
	}
	// The deleted artifact's manifest and its own layer, and the stray
	// blob, are what must go; its config may be shared with the kept one.
	for _, d := range []digest.Digest{dropped.Digest, stray.Digest} {
		if !want[d] {
			t.Fatalf("%s is not among the blobs to delete %v", d, sortedKeys(want))
		}
	}
	for d := range droppedGraph {
		if !keep[d] && !want[d] {
			t.Fatalf("blob %s of the deleted artifact is neither kept nor to be deleted", d)
		}
	}
	stop(t, srv)

	deleted := func(r *registry.GCReport) map[digest.Digest]bool {
		out := map[digest.Digest]bool{}
		for _, b := range r.Deleted {
			out[b.Digest] = true
		}
		return out
	}
	dry, err := registry.GC(ctx, root, registry.GCOptions{DryRun: true})
	if err != nil {
		t.Fatalf("gc --dry-run: %v", err)
	}
	if got := sortedKeys(deleted(dry)); !slices.Equal(got, sortedKeys(want)) {
		t.Errorf("dry run would delete %v, want %v", got, sortedKeys(want))
	}
	if got := blobsOnDisk(t, root); !maps.Equal(got, onDisk) {
		t.Errorf("the dry run changed the blobs on disk: %v, was %v", sortedKeys(got), sortedKeys(onDisk))
	}

	rep, err := registry.GC(ctx, root, registry.GCOptions{})
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if got := sortedKeys(deleted(rep)); !slices.Equal(got, sortedKeys(want)) {
		t.Errorf("gc deleted %v, want %v", got, sortedKeys(want))
	}
	if rep.Kept != len(onDisk)-len(want) {
		t.Errorf("gc kept %d blobs, want %d", rep.Kept, len(onDisk)-len(want))
	}
	var freed int64
	for d := range want {
		_, err := os.Stat(filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blob %s still on disk after gc: %v", d, err)
		}
	}
	for _, b := range rep.Deleted {
		freed += b.Size
	}
	if rep.BytesFreed != freed || freed == 0 {
		t.Errorf("bytes freed = %d, want the deleted sizes' sum %d (> 0)", rep.BytesFreed, freed)
	}
	if got := blobsOnDisk(t, root); len(got) != len(onDisk)-len(want) {
		t.Errorf("%d blobs on disk after gc, want %d", len(got), len(onDisk)-len(want))
	}
	links := map[digest.Digest]bool{}
	for _, l := range rep.Links {
		if l.Repository != "team/app" {
			t.Errorf("link removed from %q, want team/app", l.Repository)
		}
		links[l.Digest] = true
	}
	// Blobs pushed as blobs are linked under the repository's layers; the
	// deleted manifest was linked as a revision, which the delete removed.
	wantLinks := maps.Clone(want)
	delete(wantLinks, dropped.Digest)
	if !maps.Equal(links, wantLinks) {
		t.Errorf("links removed for %v, want %v", sortedKeys(links), sortedKeys(wantLinks))
	}

	// Served again: the signed artifact pulls and verifies with both
	// signatures; the collected blobs are gone.
	srv = start(t, registry.Options{Root: root})
	repo = repository(t, srv.Addr, "team/app", plain)
	if err := pull.Fetch(ctx, repo, signed, memory.New(), pull.FetchOptions{}); err != nil {
		t.Errorf("pull the signed artifact after gc: %v", err)
	}
	pub, err := cosignfmt.LoadPublicKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.Verify(ctx, repo, signed, verify.Policy{Keys: []crypto.PublicKey{pub}})
	if err != nil || !v.Verified {
		t.Errorf("verify after gc: %+v, %v", v, err)
	}
	sigs, err := verify.Discover(ctx, repo, signed)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs.Legacy) != 1 || len(sigs.Referrers) != 1 || sigs.Referrers[0].Manifest.Digest != bundle.Digest {
		t.Errorf("after gc verify finds %d legacy signatures and referrers %+v, want one legacy signature and the bundle %s", len(sigs.Legacy), sigs.Referrers, bundle.Digest)
	}
	for d := range want {
		exists, err := repo.Blobs().Exists(ctx, ocispec.Descriptor{Digest: d, Size: 1})
		if err != nil || exists {
			t.Errorf("collected blob %s: exists = %v, %v; want it gone", d, exists, err)
		}
	}
	if _, err := repo.Resolve(ctx, "v2"); err == nil {
		t.Error("the deleted artifact's tag still resolves")
	}
}

// gc refuses a root a running server holds, and a server does not start
// on a root gc holds; once the server stops, gc runs.
func TestGCRefusesARootInUse(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	srv := start(t, registry.Options{Root: root})
	if _, err := push.Push(ctx, appDir(t, "busy"), repository(t, srv.Addr, "team/app", pull.RemoteOptions{PlainHTTP: true}), "v1", push.Options{}); err != nil {
		t.Fatal(err)
	}
	_, err := registry.GC(ctx, root, registry.GCOptions{})
	if !errors.Is(err, registry.ErrRootInUse) || !strings.Contains(err.Error(), "stop it before collecting garbage") {
		t.Fatalf("gc under a live server: err = %v, want ErrRootInUse", err)
	}
	second := start(t, registry.Options{Root: root})
	stop(t, srv)
	if _, err := registry.GC(ctx, root, registry.GCOptions{}); !errors.Is(err, registry.ErrRootInUse) {
		t.Fatalf("gc while a second server still serves the root: err = %v, want ErrRootInUse", err)
	}
	stop(t, second)
	if _, err := registry.GC(ctx, root, registry.GCOptions{}); err != nil {
		t.Fatalf("gc after the servers stopped: %v", err)
	}
}

func TestGCRefusesWhatIsNotARegistryRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct{ root, want string }{
		"missing":      {filepath.Join(dir, "nope"), "no such file"},
		"a file":       {file, "not a directory"},
		"empty folder": {t.TempDir(), "holds no registry content"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := registry.GC(context.Background(), tc.root, registry.GCOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
