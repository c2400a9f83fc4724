package mirror

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/verify"
)

// contentLayer returns the one layer of the artifact manifest desc in
// target, with its bytes.
func contentLayer(t *testing.T, target content.Fetcher, desc ocispec.Descriptor) (ocispec.Descriptor, []byte) {
	t.Helper()
	ctx := context.Background()
	b, err := content.FetchAll(ctx, target, desc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cosignfmt.ParseSignatureManifest(b)
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf("artifact manifest: %v, %d layers", err, len(m.Layers))
	}
	layer, err := content.FetchAll(ctx, target, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	return m.Layers[0], layer
}

// TestAttackAlteredLayerInTar alters the content layer inside a signed
// layout tar (and a layout directory), keeping its size: the manifest and
// its signatures still verify, so only reading every blob against its
// digest finds it. CheckContent must refuse both with ErrDigestMismatch.
func TestAttackAlteredLayerInTar(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	reg := registrytest.Start(t)
	desc := pushArtifact(t, reg, "team/app", "v1", "kind: ConfigMap\nmetadata: {name: good}\n")
	_, repo := reg.Repository(t, "team/app", "v1")
	if err := cosignfmt.SignLegacy(ctx, repo, desc, reg.Repo("team/app"), key); err != nil {
		t.Fatal(err)
	}
	layerDesc, layer := contentLayer(t, repo, desc)
	dir := t.TempDir()
	tarFile := filepath.Join(dir, "app.tar")
	layoutDir := filepath.Join(dir, "layout")
	mirrorOK(t, reg.URL("team/app", "v1"), "tar:"+tarFile, plainHTTP)
	mirrorOK(t, reg.URL("team/app", "v1"), "oci-layout:"+layoutDir, plainHTTP)

	// Untouched, both pass.
	for _, loc := range []string{"tar:" + tarFile, "oci-layout:" + layoutDir} {
		checkContent(t, loc, desc, key, nil)
	}

	flip := func(b []byte, at int) { b[at] ^= 0xff }
	tb, err := os.ReadFile(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(tb, layer)
	if at < 0 {
		t.Fatal("the layer is not stored whole in the tar")
	}
	flip(tb, at+len(layer)/2)
	if err := os.WriteFile(tarFile, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(layoutDir, "blobs", "sha256", layerDesc.Digest.Encoded())
	lb, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	flip(lb, len(lb)/2)
	if err := os.WriteFile(blob, lb, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"tar:" + tarFile, "oci-layout:" + layoutDir} {
		checkContent(t, loc, desc, key, errdef.ErrDigestMismatch)
	}
}

// checkContent opens loc as verify does, checks that the signatures verify
// with key, and that CheckContent gives wantErr.
func checkContent(t *testing.T, loc string, desc ocispec.Descriptor, key crypto.Signer, wantErr error) {
	t.Helper()
	ctx := context.Background()
	l := mustParse(t, loc)
	target, release, err := Open(ctx, l, plainHTTP.Remote)
	if err != nil {
		t.Fatalf("%s: Open: %v", loc, err)
	}
	defer release()
	got, err := Resolve(ctx, target, l)
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("%s: Resolve = %v, %v", loc, got.Digest, err)
	}
	p := policy(key)
	if v, err := verify.Verify(ctx, target, got, p); err != nil || !v.Verified {
		t.Fatalf("%s: the signatures must still verify: %+v, %v", loc, v, err)
	}
	err = CheckContent(ctx, target, l, got)
	if wantErr == nil {
		if err != nil {
			t.Fatalf("%s: CheckContent: %v", loc, err)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("%s: CheckContent = %v, want %v", loc, err, wantErr)
	}
	var me *Error
	if !errors.As(err, &me) || me.Op != "check" || me.Location != loc {
		t.Fatalf("%s: error %v does not name the check at the location", loc, err)
	}
}

// TestAttackMirrorTagWithoutSignatures makes copying the signatures fail
// (the source serves a corrupt signature payload) and checks that the
// destination is left without the tag: a tag there would name an artifact
// whose signatures never arrived, and a verifier or a Sync following it
// would find it unsigned or, worse, take what a later push put beside it.
func TestAttackMirrorTagWithoutSignatures(t *testing.T) {
	ctx := context.Background()
	var (
		mu      sync.Mutex
		corrupt string // path suffix of the blob served corrupt
	)
	src := registrytest.StartWith(t, registrytest.Options{Wrap: registrytest.Corrupt(func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		return r.Method == http.MethodGet && corrupt != "" && strings.HasSuffix(r.URL.Path, corrupt)
	})})
	desc := pushArtifact(t, src, "team/app", "v1", "kind: ConfigMap\n")
	_, srcRepo := src.Repository(t, "team/app", "v1")
	if err := cosignfmt.SignLegacy(ctx, srcRepo, desc, src.Repo("team/app"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	sigDesc, err := srcRepo.Resolve(ctx, cosignfmt.LegacySignatureTag(desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, srcRepo, sigDesc)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	corrupt = "/blobs/" + m.Layers[0].Digest.String()
	mu.Unlock()

	dst := registrytest.Start(t)
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	for name, loc := range map[string]string{
		"registry": dst.URL("mirror/app", "v1"),
		"layout":   "oci-layout:" + layoutDir + ":v1",
		"tar":      "tar:" + filepath.Join(dir, "app.tar"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Mirror(ctx, mustParse(t, src.URL("team/app", "v1")), mustParse(t, loc), plainHTTP)
			if !errors.Is(err, errdef.ErrDigestMismatch) {
				t.Fatalf("Mirror with a corrupt signature at the source: %v, want ErrDigestMismatch", err)
			}
			var me *Error
			if !errors.As(err, &me) || me.Op != "copy" {
				t.Fatalf("error %v is not a copy error", err)
			}
		})
	}
	ref, dstRepo := dst.Repository(t, "mirror/app", "v1")
	if _, err := dstRepo.Resolve(ctx, ref.Tag); !errors.Is(err, oraserr.ErrNotFound) {
		t.Fatalf("destination registry tag after a failed signature copy: %v, want ErrNotFound", err)
	}
	layout, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := layout.Resolve(ctx, "v1"); !errors.Is(err, oraserr.ErrNotFound) {
		t.Fatalf("destination layout tag after a failed signature copy: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed mirror wrote the tar file: %v", err)
	}
}
