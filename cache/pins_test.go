package cache_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

func TestPinKeepsContentThroughRetentionAndGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{Retention: 1, GCGracePeriod: -1})

	// old leaves the history (retention 1) but is pinned; loose was only
	// pulled, never committed, and is pinned too.
	old := pack(t, c, "old", "old layer")
	mid := pack(t, c, "mid", "mid layer")
	cur := pack(t, c, "cur", "cur layer")
	for _, a := range []artifact{old, mid, cur} {
		commit(t, c, "ns/app", a)
	}
	loose := pack(t, c, "loose", "loose layer")
	gone := pack(t, c, "gone", "gone layer")
	for _, d := range []digest.Digest{old.manifest.Digest, loose.manifest.Digest} {
		if err := c.Pin(ctx, d); err != nil {
			t.Fatalf("pin %s: %v", d, err)
		}
	}

	if _, err := c.GC(ctx); err != nil {
		t.Fatal(err)
	}
	want := sorted(slices.Concat(old.blobs(), mid.blobs(), cur.blobs(), loose.blobs()))
	if files := blobFiles(t, dir); !slices.Equal(files, want) {
		t.Fatalf("files after gc %v; want %v (gone: %v)", files, want, gone.blobs())
	}
	for _, a := range []artifact{old, loose} {
		if got, err := content.FetchAll(ctx, c, a.layers[0]); err != nil || len(got) == 0 {
			t.Fatalf("pinned layer: %q, %v", got, err)
		}
	}

	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[digest.Digest]bool{}
	for _, a := range list {
		pinned[a.Manifest.Digest] = a.Pinned
	}
	wantPinned := map[digest.Digest]bool{old.manifest.Digest: true, loose.manifest.Digest: true, mid.manifest.Digest: false, cur.manifest.Digest: false}
	if len(pinned) != len(wantPinned) {
		t.Fatalf("listed %v; want %v", pinned, wantPinned)
	}
	for d, p := range wantPinned {
		if got, ok := pinned[d]; !ok || got != p {
			t.Errorf("%s: listed %v, pinned %v; want listed, pinned %v", d, ok, got, p)
		}
	}
	pins, err := c.Pins(ctx)
	if err != nil || len(pins) != 2 || pins[0].Descriptor.MediaType != ocispec.MediaTypeImageManifest || pins[0].Time.IsZero() {
		t.Fatalf("pins = %+v, %v", pins, err)
	}

	// Unpinned, old goes at the next GC; loose too.
	for _, d := range []digest.Digest{old.manifest.Digest, loose.manifest.Digest} {
		if err := c.Unpin(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if files, want := blobFiles(t, dir), sorted(slices.Concat(mid.blobs(), cur.blobs())); !slices.Equal(files, want) {
		t.Fatalf("files after unpin and gc %v; want %v", files, want)
	}
}

func TestPinErrors(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	a := pack(t, c, "app", "layer")
	if err := c.Pin(ctx, a.layers[0].Digest); err != nil {
		t.Fatalf("pin a layer: %v", err)
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"pin an unknown digest", func() error { return c.Pin(ctx, digest.FromString("unknown")) }, errdef.ErrNotFound},
		{"pin an invalid digest", func() error { return c.Pin(ctx, "sha256:nope") }, errdef.ErrInvalidReference},
		{"unpin what is not pinned", func() error { return c.Unpin(ctx, a.manifest.Digest) }, errdef.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v; want %v", err, tt.want)
			}
			var be *cache.BlobError
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *BlobError", err)
			}
		})
	}
	// A pinned layer is no artifact: the list holds none.
	if list, err := c.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// A referrer's subject is another artifact, which a pull does not fetch:
// committing the referrer does not need it.
func TestCommitDoesNotNeedTheSubject(t *testing.T) {
	ctx := context.Background()
	c := open(t, t.TempDir(), cache.Options{})
	src := memory.New()
	subject := pack(t, src, "subject", "subject layer")
	layer := pushBytes(t, c, fluxContentType, []byte("referrer layer"))
	m, err := oras.PackManifest(ctx, c, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{
		Subject: &subject.manifest, Layers: []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, cache.Revision{Sync: "ns/a", Manifest: m}); err != nil {
		t.Fatalf("commit a referrer without its subject: %v", err)
	}
}
