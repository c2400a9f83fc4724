package cache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"
	oraserrdef "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

func TestCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	a := pack(t, src, "app", "layer one", "layer two")
	if err := src.Tag(ctx, a.manifest, "v1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := open(t, dir, cache.Options{})

	ref := "registry.test/apps/app:v1"
	got, err := oras.Copy(ctx, src, "v1", c, ref, oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("copy into cache: %v", err)
	}
	if got.Digest != a.manifest.Digest {
		t.Fatalf("copied %s, want %s", got.Digest, a.manifest.Digest)
	}
	if files, want := blobFiles(t, dir), sorted(a.blobs()); !slices.Equal(files, want) {
		t.Fatalf("blob files %v, want %v", files, want)
	}
	resolved, err := c.Resolve(ctx, ref)
	if err != nil || resolved.Digest != a.manifest.Digest || resolved.Size != a.manifest.Size {
		t.Fatalf("resolve %s = %v, %v; want %s", ref, resolved, err, a.manifest.Digest)
	}

	// Copying again finds everything present.
	if _, err := oras.Copy(ctx, src, "v1", c, ref, oras.DefaultCopyOptions); err != nil {
		t.Fatalf("second copy: %v", err)
	}

	// And back out, byte for byte.
	dst := memory.New()
	if _, err := oras.Copy(ctx, c, ref, dst, "out", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("copy out of cache: %v", err)
	}
	for _, desc := range append([]ocispec.Descriptor{a.manifest, a.config}, a.layers...) {
		want, err := content.FetchAll(ctx, src, desc)
		if err != nil {
			t.Fatal(err)
		}
		gotBytes, err := content.FetchAll(ctx, dst, desc)
		if err != nil || !bytes.Equal(gotBytes, want) {
			t.Fatalf("blob %s after the round trip: %q, %v; want %q", desc.Digest, gotBytes, err, want)
		}
	}

	// The directory is an OCI image layout that other readers accept.
	layout, err := oci.NewFromFS(ctx, os.DirFS(dir))
	if err != nil {
		t.Fatalf("read cache as an OCI layout: %v", err)
	}
	if b, err := content.FetchAll(ctx, layout, a.layers[0]); err != nil || string(b) != "layer one" {
		t.Fatalf("layer through the layout reader: %q, %v", b, err)
	}
}

func TestFetchDetectsCorruption(t *testing.T) {
	tests := []struct {
		name   string
		target func(a artifact) ocispec.Descriptor
		damage func(t *testing.T, path string)
	}{
		{"bit flip in a layer", layerOf, flipBit},
		{"bit flip in the manifest", manifestOf, flipBit},
		{"truncated layer", layerOf, truncate},
		{"deleted layer", layerOf, remove},
		{"appended byte", layerOf, appendByte},
		{"same size, other content", layerOf, overwrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := memory.New()
			a := pack(t, src, "app", "the layer's content, long enough to flip")
			if err := src.Tag(ctx, a.manifest, "v1"); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			c := open(t, dir, cache.Options{})
			if _, err := oras.Copy(ctx, src, "v1", c, "v1", oras.DefaultCopyOptions); err != nil {
				t.Fatal(err)
			}
			target := tt.target(a)
			tt.damage(t, blobFile(dir, target))

			got, err := content.FetchAll(ctx, c, target)
			if !errors.Is(err, errdef.ErrCorrupt) {
				t.Fatalf("fetch damaged blob: %q, %v; want ErrCorrupt", got, err)
			}
			var be *cache.BlobError
			if !errors.As(err, &be) || be.Digest != target.Digest || be.Op != "fetch" {
				t.Fatalf("error %v does not name the blob and operation", err)
			}
			if ok, err := c.Exists(ctx, target); ok || err != nil {
				t.Fatalf("evicted blob exists = %v, %v", ok, err)
			}
			if _, err := os.Stat(blobFile(dir, target)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("evicted blob's file is still there: %v", err)
			}
			if _, err := c.Fetch(ctx, target); !errors.Is(err, errdef.ErrNotFound) {
				t.Fatalf("fetch after eviction: %v; want ErrNotFound", err)
			}

			// The next pull fetches it again.
			if _, err := oras.Copy(ctx, src, "v1", c, "v1", oras.DefaultCopyOptions); err != nil {
				t.Fatalf("copy after eviction: %v", err)
			}
			want, _ := content.FetchAll(ctx, src, target)
			if got, err := content.FetchAll(ctx, c, target); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("fetch after re-pull: %q, %v", got, err)
			}
		})
	}
}

func TestFetchWithholdsCorruptContent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{})
	data := bytes.Repeat([]byte("0123456789"), 1000)
	desc := pushBytes(t, c, fluxContentType, data)
	flipBit(t, blobFile(dir, desc))

	rc, err := c.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Read in small chunks: the reader never delivers the full blob.
	var got []byte
	buf := make([]byte, 333)
	for {
		n, err := rc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, errdef.ErrCorrupt) {
				t.Fatalf("read error %v; want ErrCorrupt", err)
			}
			break
		}
	}
	if len(got) >= len(data) {
		t.Fatalf("reader delivered %d of %d bytes of a corrupt blob", len(got), len(data))
	}
}

func TestFetchErrors(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	desc := pushBytes(t, c, fluxContentType, []byte("content"))
	tests := []struct {
		name string
		desc ocispec.Descriptor
		want []error
	}{
		{"unknown digest", content.NewDescriptorFromBytes(fluxContentType, []byte("other")), []error{errdef.ErrNotFound, oraserrdef.ErrNotFound}},
		{"wrong size in the descriptor", ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size + 1}, []error{errdef.ErrSizeMismatch}},
		{"invalid digest", ocispec.Descriptor{Digest: "sha256:zz", Size: 1}, []error{errdef.ErrInvalidReference}},
		{"sha512 digest", ocispec.Descriptor{Digest: digest.SHA512.FromString("x"), Size: 1}, []error{errdef.ErrInvalidReference}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := c.Fetch(ctx, tt.desc)
			if err == nil {
				rc.Close()
				t.Fatal("fetch succeeded")
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
		})
	}
	// A wrong descriptor is the caller's mistake: the blob stays.
	if ok, err := c.Exists(ctx, desc); !ok || err != nil {
		t.Fatalf("blob gone after a bad descriptor: %v, %v", ok, err)
	}
}

func TestPush(t *testing.T) {
	data := []byte("rendered manifests")
	good := content.NewDescriptorFromBytes(fluxContentType, data)
	tests := []struct {
		name string
		desc ocispec.Descriptor
		body io.Reader
		want error
	}{
		{"stores content", good, bytes.NewReader(data), nil},
		{"wrong digest", good, bytes.NewReader([]byte("rendered manifestz")), errdef.ErrDigestMismatch},
		{"too short", good, bytes.NewReader(data[:5]), errdef.ErrSizeMismatch},
		{"too long", good, bytes.NewReader(append(slices.Clone(data), '!')), errdef.ErrSizeMismatch},
		{"reader fails", good, io.MultiReader(bytes.NewReader(data[:3]), errReader{}), errBoom},
		{"sha512 digest", ocispec.Descriptor{Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}, bytes.NewReader(data), errdef.ErrInvalidReference},
		{"negative size", ocispec.Descriptor{Digest: good.Digest, Size: -1}, bytes.NewReader(data), errdef.ErrSizeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			c := open(t, dir, cache.Options{})
			err := c.Push(ctx, tt.desc, tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("push: %v; want %v", err, tt.want)
			}
			ok, _ := c.Exists(ctx, good)
			if ok != (tt.want == nil) {
				t.Fatalf("exists after push = %v", ok)
			}
			if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
				t.Fatalf("push left %d temporary files", len(tmp))
			}
			if tt.want != nil {
				return
			}
			// Pushing again is a no-op that does not read the body.
			if err := c.Push(ctx, tt.desc, errReader{}); err != nil {
				t.Fatalf("second push: %v", err)
			}
			if got, err := content.FetchAll(ctx, c, good); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetch: %q, %v", got, err)
			}
		})
	}
}

func TestPushCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{})
	data := []byte("x")
	if err := c.Push(ctx, content.NewDescriptorFromBytes(fluxContentType, data), bytes.NewReader(data)); !errors.Is(err, context.Canceled) {
		t.Fatalf("push with a canceled context: %v", err)
	}
}

func TestTagResolve(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	a := pack(t, c, "app", "layer")
	missing := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(`{"not":"cached"}`))
	if err := c.Tag(ctx, missing, "registry.test/apps/app:v0"); !errors.Is(err, errdef.ErrNotFound) || !errors.Is(err, oraserrdef.ErrNotFound) {
		t.Fatalf("tag missing blob: %v", err)
	}
	if err := c.Tag(ctx, a.manifest, ""); !errors.Is(err, errdef.ErrInvalidReference) {
		t.Fatalf("tag empty reference: %v", err)
	}
	if err := c.Tag(ctx, a.manifest, "registry.test/apps/app:v1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref  string
		want ocispec.Descriptor
		err  error
	}{
		{"registry.test/apps/app:v1", a.manifest, nil},
		{a.manifest.Digest.String(), ocispec.Descriptor{MediaType: a.manifest.MediaType, Digest: a.manifest.Digest, Size: a.manifest.Size}, nil},
		{"registry.test/apps/app@" + a.layers[0].Digest.String(), ocispec.Descriptor{MediaType: fluxContentType, Digest: a.layers[0].Digest, Size: a.layers[0].Size}, nil},
		{"registry.test/apps/app:v2", ocispec.Descriptor{}, errdef.ErrNotFound},
		{"registry.test/apps/app@" + missing.Digest.String(), ocispec.Descriptor{}, oraserrdef.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := c.Resolve(ctx, tt.ref)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("resolve: %v; want %v", err, tt.err)
			}
			if got.Digest != tt.want.Digest || got.Size != tt.want.Size || got.MediaType != tt.want.MediaType {
				t.Fatalf("resolve = %+v; want %+v", got, tt.want)
			}
		})
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Repository != "registry.test/apps/app" {
		t.Fatalf("a tagged manifest is listed under its repository: %+v, %v", list, err)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"bit flip", flipBit},
		{"truncation", truncate},
		{"deletion", remove},
		{"same size, other content", overwrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			c := open(t, dir, cache.Options{})
			a := pack(t, c, "app", "layer one", "layer two")
			tt.damage(t, blobFile(dir, a.layers[1]))

			report, err := c.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if report.Checked != 4 || !slices.Equal(report.Corrupt, []string{a.layers[1].Digest.String()}) {
				t.Fatalf("check = %+v; want 4 checked, %s corrupt", report, a.layers[1].Digest)
			}
			if ok, _ := c.Exists(ctx, a.layers[1]); ok {
				t.Fatal("corrupt blob still exists")
			}
			if files, want := blobFiles(t, dir), sorted(a.blobs()[:3]); !slices.Equal(files, want) {
				t.Fatalf("files after check %v; want %v", files, want)
			}
			report, err = c.Check(ctx)
			if err != nil || report.Checked != 3 || len(report.Corrupt) != 0 {
				t.Fatalf("second check = %+v, %v; want 3 checked, none corrupt", report, err)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{Retention: 3})
	var arts []artifact
	for i := range 6 {
		arts = append(arts, pack(t, c, "rev"+string(rune('a'+i)), "shared layer"))
		commit(t, c, "ns/app", arts[i])
	}
	historyDigests := func() []digest.Digest {
		t.Helper()
		h, err := c.History(ctx, "ns/app")
		if err != nil {
			t.Fatal(err)
		}
		var out []digest.Digest
		for _, r := range h {
			out = append(out, r.Manifest.Digest)
		}
		return out
	}
	lastDigest := func() digest.Digest {
		t.Helper()
		rev, ok, err := c.LastApplied(ctx, "ns/app")
		if err != nil || !ok {
			t.Fatalf("last applied: %v, %v", ok, err)
		}
		return rev.Manifest.Digest
	}
	d := func(i int) digest.Digest { return arts[i].manifest.Digest }

	if got, want := historyDigests(), []digest.Digest{d(4), d(3), d(2)}; !slices.Equal(got, want) {
		t.Fatalf("history %v; want exactly the 3 previous, newest first: %v", got, want)
	}
	if lastDigest() != d(5) {
		t.Fatal("last applied is not the newest commit")
	}

	t.Run("re-applying the same digest keeps the history", func(t *testing.T) {
		commit(t, c, "ns/app", arts[5])
		if got, want := historyDigests(), []digest.Digest{d(4), d(3), d(2)}; !slices.Equal(got, want) {
			t.Fatalf("history %v; want %v", got, want)
		}
	})
	t.Run("rolling back takes the revision out of the history", func(t *testing.T) {
		commit(t, c, "ns/app", arts[3])
		if got, want := historyDigests(), []digest.Digest{d(5), d(4), d(2)}; !slices.Equal(got, want) {
			t.Fatalf("history %v; want %v", got, want)
		}
		if lastDigest() != d(3) {
			t.Fatal("rollback is not the last applied")
		}
	})
	t.Run("syncs are independent", func(t *testing.T) {
		commit(t, c, "ns/other", arts[0])
		h, err := c.History(ctx, "ns/other")
		if err != nil || len(h) != 0 {
			t.Fatalf("history of a new sync: %v, %v", h, err)
		}
		if _, ok, _ := c.LastApplied(ctx, "ns/none"); ok {
			t.Fatal("an unknown sync has a last-applied revision")
		}
	})
}

func TestCommitErrors(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	a := pack(t, c, "app", "layer")
	notCached := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(`{"other":1}`))
	// A manifest cached without its layer, as a pull cut short leaves it.
	src := memory.New()
	partial := pack(t, src, "partial", "layer never cached")
	for _, d := range []ocispec.Descriptor{partial.config, partial.manifest} {
		data, err := content.FetchAll(ctx, src, d)
		if err != nil {
			t.Fatal(err)
		}
		pushBytes(t, c, d.MediaType, data)
	}
	tests := []struct {
		name string
		rev  cache.Revision
		want error
	}{
		{"manifest not cached", cache.Revision{Sync: "ns/a", Manifest: notCached}, errdef.ErrNotFound},
		{"layer not cached", cache.Revision{Sync: "ns/a", Manifest: partial.manifest}, errdef.ErrNotFound},
		{"no sync", cache.Revision{Manifest: a.manifest}, nil},
		{"verdict for another digest", cache.Revision{Sync: "ns/a", Manifest: a.manifest, Verdict: cache.Verdict{Digest: notCached.Digest.String(), Verified: true}}, nil},
		{"invalid digest", cache.Revision{Sync: "ns/a", Manifest: ocispec.Descriptor{Digest: "nope"}}, errdef.ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Commit(ctx, tt.rev)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("commit: %v; want an error (%v)", err, tt.want)
			}
		})
	}
	// Nothing of the failed commits landed.
	if _, ok, _ := c.LastApplied(ctx, "ns/a"); ok {
		t.Fatal("a failed commit recorded a revision")
	}
	if _, ok, _ := c.Verdict(ctx, notCached.Digest.String(), ""); ok {
		t.Fatal("a failed commit recorded a verdict")
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a1 := pack(t, c, "one", "layer")
	a2 := pack(t, c, "two", "layer")
	commit(t, c, "ns/app", a1)
	applied := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	rev := cache.Revision{
		Sync: "ns/app", Repository: "registry.test/apps/app", Manifest: a2.manifest,
		Verdict:   cache.Verdict{PolicyHash: "p2", Verified: true, Signers: []string{"key:1"}, Reason: "1 of 1 keys", Time: applied},
		Inventory: []string{"v1/ConfigMap/apps/a", "apps/v1/Deployment/apps/b"},
		AppliedAt: applied,
	}
	if err := c.Commit(ctx, rev); err != nil {
		t.Fatal(err)
	}
	other := cache.Verdict{Digest: "sha256:" + strings.Repeat("ab", 32), PolicyHash: "p3", Reason: "no signature", Time: applied}
	if err := c.RecordVerdict(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c = open(t, dir, cache.Options{})
	got, ok, err := c.LastApplied(ctx, "ns/app")
	if err != nil || !ok {
		t.Fatalf("last applied after reopen: %v, %v", ok, err)
	}
	rev.Verdict.Digest = a2.manifest.Digest.String() // filled in by Commit
	if got.Manifest.Digest != rev.Manifest.Digest || got.Repository != rev.Repository ||
		!slices.Equal(got.Inventory, rev.Inventory) || !got.AppliedAt.Equal(applied) ||
		got.Verdict.Digest != rev.Verdict.Digest || !got.Verdict.Verified || got.Verdict.Reason != rev.Verdict.Reason {
		t.Fatalf("last applied after reopen = %+v; want %+v", got, rev)
	}
	h, err := c.History(ctx, "ns/app")
	if err != nil || len(h) != 1 || h[0].Manifest.Digest != a1.manifest.Digest {
		t.Fatalf("history after reopen: %+v, %v", h, err)
	}
	v, ok, err := c.Verdict(ctx, a2.manifest.Digest.String(), "p2")
	if err != nil || !ok || !v.Verified || !slices.Equal(v.Signers, []string{"key:1"}) {
		t.Fatalf("verdict after reopen: %+v, %v, %v", v, ok, err)
	}
	if _, ok, _ := c.Verdict(ctx, a2.manifest.Digest.String(), "other-policy"); ok {
		t.Fatal("a verdict counts for another policy")
	}
	v, ok, err = c.Verdict(ctx, other.Digest, "p3")
	if err != nil || !ok || v.Verified || v.Reason != "no signature" {
		t.Fatalf("recorded verdict after reopen: %+v, %v, %v", v, ok, err)
	}
	if got, err := content.FetchAll(ctx, c, a2.layers[0]); err != nil || string(got) != "layer" {
		t.Fatalf("blob after reopen: %q, %v", got, err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cache.Open(ctx, dir, cache.Options{OpenTimeout: 100 * time.Millisecond})
	if !errors.Is(err, errdef.ErrCacheLocked) {
		t.Fatalf("second open: %v; want ErrCacheLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the directory %s", err, dir)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir, cache.Options{OpenTimeout: 100 * time.Millisecond})
}

func TestOpenOptions(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		dir  string
		opts cache.Options
	}{
		{"no directory", ctx, "", cache.Options{}},
		{"negative retention", ctx, t.TempDir(), cache.Options{Retention: -1}},
		{"negative timeout", ctx, t.TempDir(), cache.Options{OpenTimeout: -time.Second}},
		{"canceled context", canceled, t.TempDir(), cache.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := cache.Open(tt.ctx, tt.dir, tt.opts); err == nil {
				c.Close()
				t.Fatal("open succeeded")
			}
		})
	}
}

func TestOpenRepairs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := cache.Open(ctx, dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := pack(t, c, "app", "kept", "deleted")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// What a crash can leave: a half-written temporary file, a blob file
	// renamed into place but not indexed, and an indexed blob whose file is
	// gone; plus a file that does not hash to its name.
	if err := os.WriteFile(filepath.Join(dir, "tmp", "blob-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	orphan := []byte("renamed but not indexed")
	orphanDesc := content.NewDescriptorFromBytes(fluxContentType, orphan)
	if err := os.WriteFile(blobFile(dir, orphanDesc), orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	bogus := content.NewDescriptorFromBytes(fluxContentType, []byte("what the name says"))
	if err := os.WriteFile(blobFile(dir, bogus), []byte("something else"), 0o644); err != nil {
		t.Fatal(err)
	}
	remove(t, blobFile(dir, a.layers[1]))

	c = open(t, dir, cache.Options{})
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temporary files left after open", len(tmp))
	}
	tests := []struct {
		name   string
		desc   ocispec.Descriptor
		exists bool
	}{
		{"indexed blob", a.layers[0], true},
		{"orphan adopted", orphanDesc, true},
		{"blob without a file dropped", a.layers[1], false},
		{"file with the wrong content removed", bogus, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := c.Exists(ctx, tt.desc)
			if err != nil || ok != tt.exists {
				t.Fatalf("exists = %v, %v; want %v", ok, err, tt.exists)
			}
			if _, err := c.Resolve(ctx, tt.desc.Digest.String()); (err == nil) != tt.exists {
				t.Fatalf("index entry present = %v; want %v", err == nil, tt.exists)
			}
		})
	}
	if _, err := os.Stat(blobFile(dir, bogus)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file with the wrong content kept: %v", err)
	}
	report, err := c.Check(ctx)
	if err != nil || len(report.Corrupt) != 0 || report.Checked != 4 {
		t.Fatalf("check after repair = %+v, %v", report, err)
	}
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{Retention: 1, GCGracePeriod: -1})

	// Sync A: a1 (dropped from history), a2 (history), a3 (last applied).
	a1 := pack(t, c, "a1", "a1 only", "shared")
	a2 := pack(t, c, "a2", "a2 only", "shared")
	a3 := pack(t, c, "a3", "a3 only")
	for _, a := range []artifact{a1, a2, a3} {
		commit(t, c, "ns/a", a)
	}
	// Sync B: b1 applied, through an index that points at a manifest.
	b1 := pack(t, c, "b1", "b1 only")
	// A referrer of b1 (as a signature would be): nothing reaches it.
	if _, err := oras.PackManifest(ctx, c, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{Subject: &b1.manifest}); err != nil {
		t.Fatal(err)
	}
	index := pushIndex(t, c, b1.manifest)
	commit(t, c, "ns/b", artifact{manifest: index})
	// Not reachable from any sync: a tagged artifact and a loose blob.
	x := pack(t, c, "x", "x only", "shared")
	if err := c.Tag(ctx, x.manifest, "registry.test/apps/x:1"); err != nil {
		t.Fatal(err)
	}
	loose := pushBytes(t, c, fluxContentType, []byte("loose"))
	if err := c.RecordVerdict(ctx, cache.Verdict{Digest: x.manifest.Digest.String(), PolicyHash: "p", Time: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}

	keep := sorted(slices.Concat(a2.blobs(), a3.blobs(), b1.blobs(), []string{index.Digest.String()}))
	before := blobFiles(t, dir)
	var wantFreed int64
	wantRemoved := 0
	for _, d := range before {
		if !slices.Contains(keep, d) {
			fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
			if err != nil {
				t.Fatal(err)
			}
			wantFreed += fi.Size()
			wantRemoved++
		}
	}
	// a1's manifest and unique layer, x's manifest and unique layer, the
	// loose blob, and the referrer manifest (only the index's child is kept).
	if wantRemoved != 6 {
		t.Fatalf("test setup: %d blobs to remove, want 6", wantRemoved)
	}

	report, err := c.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if report.RemovedBlobs != wantRemoved || report.FreedBytes != wantFreed {
		t.Fatalf("gc = %+v; want %d blobs, %d bytes", report, wantRemoved, wantFreed)
	}
	if files := blobFiles(t, dir); !slices.Equal(files, keep) {
		t.Fatalf("blob files after gc %v; want exactly %v", files, keep)
	}
	if ok, _ := c.Exists(ctx, loose); ok {
		t.Fatal("loose blob survived")
	}
	if _, err := c.Resolve(ctx, "registry.test/apps/x:1"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("tag of collected artifact: %v", err)
	}
	if _, ok, _ := c.Verdict(ctx, x.manifest.Digest.String(), "p"); ok {
		t.Fatal("verdict of collected artifact survived")
	}
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, a := range list {
		listed = append(listed, a.Manifest.Digest.String())
	}
	if want := sorted([]string{a2.manifest.Digest.String(), a3.manifest.Digest.String(), index.Digest.String()}); !slices.Equal(sorted(listed), want) {
		t.Fatalf("listed after gc %v; want %v", listed, want)
	}
	// Everything kept still reads back.
	for _, a := range []artifact{a2, a3, b1} {
		for _, l := range a.layers {
			if _, err := content.FetchAll(ctx, c, l); err != nil {
				t.Fatalf("kept layer %s: %v", l.Digest, err)
			}
		}
	}
	// A second run finds nothing.
	if report, err := c.GC(ctx); err != nil || report.RemovedBlobs != 0 {
		t.Fatalf("second gc = %+v, %v", report, err)
	}
}

func TestGCGracePeriodKeepsFreshBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{}) // default grace period
	a := pack(t, c, "pulled, not committed yet", "layer")
	report, err := c.GC(ctx)
	if err != nil || report.RemovedBlobs != 0 {
		t.Fatalf("gc = %+v, %v; want nothing removed", report, err)
	}
	if files := blobFiles(t, dir); !slices.Equal(files, sorted(a.blobs())) {
		t.Fatalf("files after gc %v", files)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	a := pack(t, c, "app", "layer one", "layer two")
	commit(t, c, "ns/b", a)
	commit(t, c, "ns/a", a)
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v, %v", list, err)
	}
	got := list[0]
	wantSize := a.manifest.Size + a.config.Size + a.layers[0].Size + a.layers[1].Size
	if got.Manifest.Digest != a.manifest.Digest || got.Repository != "registry.test/apps/ns/a" || got.Size != wantSize ||
		!got.Verified || len(got.Verdicts) != 1 || !slices.Equal(got.UsedBy, []string{"ns/a", "ns/b"}) ||
		!slices.Equal(got.AppliedBy, []string{"ns/a", "ns/b"}) || got.Pinned {
		t.Fatalf("listed %+v; want size %d, verified, used and applied by ns/a and ns/b", got, wantSize)
	}
	// Once ns/b moves on, it keeps a only in its history.
	commit(t, c, "ns/b", pack(t, c, "next", "layer three"))
	list, err = c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range list {
		if got.Manifest.Digest == a.manifest.Digest &&
			(!slices.Equal(got.UsedBy, []string{"ns/a", "ns/b"}) || !slices.Equal(got.AppliedBy, []string{"ns/a"})) {
			t.Fatalf("after ns/b moved on: used by %v, applied by %v", got.UsedBy, got.AppliedBy)
		}
	}
}

// pushIndex pushes an OCI index holding m.
func pushIndex(t testing.TB, s content.Storage, m ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	data := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[{"mediaType":"` +
		m.MediaType + `","digest":"` + m.Digest.String() + `","size":` + strconv.FormatInt(m.Size, 10) + `}]}`)
	return pushBytes(t, s, ocispec.MediaTypeImageIndex, data)
}

func layerOf(a artifact) ocispec.Descriptor    { return a.layers[0] }
func manifestOf(a artifact) ocispec.Descriptor { return a.manifest }

func flipBit(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 3); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func appendByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); err != nil {
		t.Fatal(err)
	}
}

// overwrite keeps the size and changes every byte, with a new inode, as a
// careless copy would.
func overwrite(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'z'
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestExistsNeedsTheWholeGraph(t *testing.T) {
	tests := []struct {
		name   string
		target func(a artifact) ocispec.Descriptor
		damage func(t *testing.T, path string)
	}{
		{"layer file deleted", layerOf, remove},
		{"layer file truncated", layerOf, truncate},
		{"manifest bit flip", manifestOf, flipBit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := memory.New()
			a := pack(t, src, "app", "layer")
			if err := src.Tag(ctx, a.manifest, "v1"); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			c := open(t, dir, cache.Options{})
			if _, err := oras.Copy(ctx, src, "v1", c, "v1", oras.DefaultCopyOptions); err != nil {
				t.Fatal(err)
			}
			if ok, err := c.Exists(ctx, a.manifest); !ok || err != nil {
				t.Fatalf("complete artifact exists = %v, %v", ok, err)
			}
			tt.damage(t, blobFile(dir, tt.target(a)))
			if ok, err := c.Exists(ctx, a.manifest); ok || err != nil {
				t.Fatalf("damaged artifact exists = %v, %v", ok, err)
			}
			// A copy repairs it without a fetch from the caller.
			if _, err := oras.Copy(ctx, src, "v1", c, "v1", oras.DefaultCopyOptions); err != nil {
				t.Fatal(err)
			}
			if ok, err := c.Exists(ctx, a.manifest); !ok || err != nil {
				t.Fatalf("repaired artifact exists = %v, %v", ok, err)
			}
			for _, d := range append([]ocispec.Descriptor{a.manifest, a.config}, a.layers...) {
				if _, err := content.FetchAll(ctx, c, d); err != nil {
					t.Fatalf("fetch %s after repair: %v", d.Digest, err)
				}
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	src := memory.New()
	a := pack(t, src, "app", "layer one", "layer two")
	if err := src.Tag(ctx, a.manifest, "v1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := open(t, dir, cache.Options{})
	const workers = 4
	errs := make(chan error, workers*3)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := oras.Copy(ctx, src, "v1", c, "v1", oras.DefaultCopyOptions); err != nil {
				errs <- err
				return
			}
			name := "ns/app-" + strconv.Itoa(i%2)
			if err := c.Commit(ctx, cache.Revision{Sync: name, Manifest: a.manifest}); err != nil {
				errs <- err
			}
			if _, _, err := c.LastApplied(ctx, name); err != nil {
				errs <- err
			}
			if _, err := c.GC(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	report, err := c.Check(ctx)
	if err != nil || report.Checked != 4 || len(report.Corrupt) != 0 {
		t.Fatalf("check after concurrent use = %+v, %v", report, err)
	}
	if files := blobFiles(t, dir); !slices.Equal(files, sorted(a.blobs())) {
		t.Fatalf("files %v", files)
	}
}
