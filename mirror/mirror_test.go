package mirror

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/verify"
)

// plainHTTP reaches the test registries.
var plainHTTP = Options{Remote: pull.RemoteOptions{PlainHTTP: true}}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pushArtifact pushes a Flux-format artifact of one manifest file to
// reg/name:tag and returns its descriptor.
func pushArtifact(t *testing.T, reg *registrytest.Registry, name, tag, body string) ocispec.Descriptor {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, repo := reg.Repository(t, name, tag)
	desc, err := push.Push(context.Background(), dir, repo, tag, push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

func mustParse(t *testing.T, s string) Location {
	t.Helper()
	loc, err := ParseLocation(s)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mirrorOK(t *testing.T, src, dst string, opts Options) Result {
	t.Helper()
	res, err := Mirror(context.Background(), mustParse(t, src), mustParse(t, dst), opts)
	if err != nil {
		t.Fatalf("Mirror(%s, %s): %v", src, dst, err)
	}
	return res
}

func policy(keys ...crypto.Signer) verify.Policy {
	p := verify.Policy{Mode: verify.Enforce}
	for _, k := range keys {
		p.Keys = append(p.Keys, k.Public())
	}
	return p
}

// checkVerifies checks what a verifier finds for subject at target: the
// legacy signature with legacyKey, the bundle with bundleKey, and nothing
// with a stranger's key.
func checkVerifies(t *testing.T, where string, target oras.ReadOnlyTarget, subject ocispec.Descriptor, legacyKey, bundleKey crypto.Signer) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		key    crypto.Signer
		format string
	}{{legacyKey, "legacy"}, {bundleKey, "bundle"}} {
		v, err := verify.Verify(ctx, target, subject, policy(c.key))
		if err != nil || !v.Verified {
			t.Fatalf("%s: %s signature does not verify: %+v, %v", where, c.format, v, err)
		}
		var formats []string
		for _, ch := range v.Checked {
			if ch.Signer != "" {
				formats = append(formats, ch.Format)
			}
		}
		if len(formats) != 1 || formats[0] != c.format {
			t.Fatalf("%s: valid signatures by the %s key in formats %v, want [%s]", where, c.format, formats, c.format)
		}
	}
	_, err := verify.Verify(ctx, target, subject, policy(newKey(t)))
	if !errors.Is(err, errdef.ErrSignatureInvalid) {
		t.Fatalf("%s: a stranger's key: %v, want ErrSignatureInvalid", where, err)
	}
}

// TestMirrorAcrossTheGap carries a signed artifact registry -> layout ->
// tar -> another registry and checks at each stop that the digest is the
// same and that both signature formats verify there.
func TestMirrorAcrossTheGap(t *testing.T) {
	ctx := context.Background()
	legacyKey, bundleKey := newKey(t), newKey(t)
	src := registrytest.Start(t)
	desc := pushArtifact(t, src, "team/app", "1.4.2", "kind: ConfigMap\n")
	_, srcRepo := src.Repository(t, "team/app", "1.4.2")
	if err := cosignfmt.SignLegacy(ctx, srcRepo, desc, src.Repo("team/app"), legacyKey); err != nil {
		t.Fatal(err)
	}
	if _, err := cosignfmt.SignBundle(ctx, srcRepo, desc, bundleKey); err != nil {
		t.Fatal(err)
	}

	// Registry -> layout, checked against the policy on the way out.
	work := t.TempDir()
	layoutDir := filepath.Join(work, "layout")
	p := policy(legacyKey)
	opts := plainHTTP
	opts.Policy = &p
	res := mirrorOK(t, src.URL("team/app", "1.4.2"), "oci-layout:"+layoutDir, opts)
	want := Result{Source: src.URL("team/app", "1.4.2"), Destination: "oci-layout:" + layoutDir,
		Digest: desc.Digest.String(), Tag: "1.4.2", Signatures: 1, Referrers: 1}
	if res.Verdict == nil || !res.Verdict.Verified {
		t.Fatalf("verdict at the source = %+v", res.Verdict)
	}
	res.Verdict = nil
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("registry -> layout: %+v, want %+v", res, want)
	}
	layout, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := layout.Resolve(ctx, "1.4.2")
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("layout tag 1.4.2 = %v, %v; want %s", got.Digest, err, desc.Digest)
	}
	checkVerifies(t, "layout", layout, desc, legacyKey, bundleKey)

	// Layout -> tar: the layout's only tag is taken.
	tarFile := filepath.Join(work, "out", "app.tar")
	if err := os.Mkdir(filepath.Dir(tarFile), 0o755); err != nil {
		t.Fatal(err)
	}
	res = mirrorOK(t, "oci-layout:"+layoutDir, "tar:"+tarFile, Options{})
	if res.Digest != desc.Digest.String() || res.Tag != "1.4.2" || res.Signatures != 1 || res.Referrers != 1 {
		t.Fatalf("layout -> tar: %+v", res)
	}
	if entries, _ := os.ReadDir(filepath.Dir(tarFile)); len(entries) != 1 {
		t.Fatalf("beside the tar file: %v, want the file alone", entries)
	}
	tarStore, err := oci.NewFromTar(ctx, tarFile)
	if err != nil {
		t.Fatal(err)
	}
	checkVerifies(t, "tar", tarStore, desc, legacyKey, bundleKey)

	// Tar -> a second registry, with no tag given on either side.
	dst := registrytest.Start(t)
	res = mirrorOK(t, "tar:"+tarFile, "oci://"+dst.Repo("mirror/app"), plainHTTP)
	if res.Digest != desc.Digest.String() || res.Tag != "1.4.2" || res.Signatures != 1 || res.Referrers != 1 {
		t.Fatalf("tar -> registry: %+v", res)
	}
	ref, dstRepo := dst.Repository(t, "mirror/app", "1.4.2")
	got, err = pull.Resolve(ctx, dstRepo, ref)
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("destination registry tag 1.4.2 = %v, %v; want %s", got.Digest, err, desc.Digest)
	}
	// The test registry has no referrers API: the bundle must be listed in
	// the referrers tag fallback index.
	if _, err := dstRepo.Resolve(ctx, cosignfmt.ReferrersTag(desc.Digest)); err != nil {
		t.Fatalf("referrers tag fallback index at the destination: %v", err)
	}
	checkVerifies(t, "destination registry", dstRepo, desc, legacyKey, bundleKey)

	// Mirroring again changes nothing and counts the same.
	again := mirrorOK(t, "tar:"+tarFile, "oci://"+dst.Repo("mirror/app"), plainHTTP)
	if !reflect.DeepEqual(again, res) {
		t.Fatalf("second mirror: %+v, first %+v", again, res)
	}
	checkVerifies(t, "destination registry, mirrored twice", dstRepo, desc, legacyKey, bundleKey)
}

// TestMirrorTarIsDeterministic packs the same layout twice and compares
// the bytes.
func TestMirrorTarIsDeterministic(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	desc := pushArtifact(t, reg, "team/app", "v1", "kind: Secret\n")
	_, repo := reg.Repository(t, "team/app", "v1")
	if err := cosignfmt.SignLegacy(ctx, repo, desc, reg.Repo("team/app"), newKey(t)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two bundles, so index.json has several entries to order
		if _, err := cosignfmt.SignBundle(ctx, repo, desc, newKey(t)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	mirrorOK(t, reg.URL("team/app", "v1"), "tar:"+a, plainHTTP)
	mirrorOK(t, reg.URL("team/app", "v1"), "tar:"+b, plainHTTP)
	ab, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ab, bb) {
		t.Fatalf("two packs of the same artifact differ (%d and %d bytes)", len(ab), len(bb))
	}
	if _, err := checkLayoutTar(a); err != nil {
		t.Fatalf("a tar mirror writes is refused when read back: %v", err)
	}

	// An existing file is never replaced.
	_, err = Mirror(ctx, mustParse(t, reg.URL("team/app", "v1")), mustParse(t, "tar:"+a), plainHTTP)
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("mirror onto an existing tar: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(a); !bytes.Equal(after, ab) {
		t.Fatal("the existing tar file was changed")
	}
}

// TestMirrorRefusesUnsigned checks that a policy that fails at the source
// writes nothing anywhere.
func TestMirrorRefusesUnsigned(t *testing.T) {
	reg := registrytest.Start(t)
	pushArtifact(t, reg, "team/app", "unsigned", "kind: ConfigMap\n")
	other := registrytest.Start(t)
	p := policy(newKey(t))
	opts := plainHTTP
	opts.Policy = &p
	dir := t.TempDir()
	for name, dst := range map[string]string{
		"tar":      "tar:" + filepath.Join(dir, "app.tar"),
		"layout":   "oci-layout:" + filepath.Join(dir, "layout"),
		"registry": other.URL("mirror/app", "unsigned"),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Mirror(context.Background(), mustParse(t, reg.URL("team/app", "unsigned")), mustParse(t, dst), opts)
			if !errors.Is(err, errdef.ErrNoSignature) {
				t.Fatalf("Mirror: %v, want ErrNoSignature", err)
			}
			var me *Error
			if !errors.As(err, &me) || me.Op != "verify" || me.Location != reg.URL("team/app", "unsigned") {
				t.Fatalf("error %v does not name the verify step at the source", err)
			}
			if res.Verdict == nil || res.Verdict.Verified {
				t.Fatalf("verdict = %+v, want one not verified", res.Verdict)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused mirrors left %v", entries)
	}
	ref, repo := other.Repository(t, "mirror/app", "unsigned")
	if _, err := pull.Resolve(context.Background(), repo, ref); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("destination registry after a refused mirror: %v, want ErrNotFound", err)
	}
}

func TestMirrorMissingTag(t *testing.T) {
	reg := registrytest.Start(t)
	pushArtifact(t, reg, "team/app", "v1", "kind: ConfigMap\n")
	dir := t.TempDir()
	src := reg.URL("team/app", "v9")
	_, err := Mirror(context.Background(), mustParse(t, src), mustParse(t, "tar:"+filepath.Join(dir, "x.tar")), plainHTTP)
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("Mirror of a missing tag: %v, want ErrNotFound", err)
	}
	for _, want := range []string{"resolve", src, `tag "v9"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed mirror left %v", entries)
	}

	// A layout without the tag, and one with several tags and none named.
	layoutDir := filepath.Join(dir, "layout")
	mirrorOK(t, reg.URL("team/app", "v1"), "oci-layout:"+layoutDir, plainHTTP)
	pushArtifact(t, reg, "team/app", "v2", "kind: Secret\n")
	mirrorOK(t, reg.URL("team/app", "v2"), "oci-layout:"+layoutDir, plainHTTP)
	_, err = Mirror(context.Background(), mustParse(t, "oci-layout:"+layoutDir+":v9"), mustParse(t, "tar:"+filepath.Join(dir, "y.tar")), Options{})
	if !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), `tag "v9"`) {
		t.Fatalf("layout without the tag: %v", err)
	}
	_, err = Mirror(context.Background(), mustParse(t, "oci-layout:"+layoutDir), mustParse(t, "tar:"+filepath.Join(dir, "y.tar")), Options{})
	if !errors.Is(err, errdef.ErrInvalidReference) || !strings.Contains(err.Error(), "v1, v2") {
		t.Fatalf("layout with two tags, none named: %v", err)
	}
}

// TestMirrorDestinationDigest checks that a digest named at the destination
// must be the source's.
func TestMirrorDestinationDigest(t *testing.T) {
	reg := registrytest.Start(t)
	desc := pushArtifact(t, reg, "team/app", "v1", "kind: ConfigMap\n")
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	_, err := Mirror(context.Background(), mustParse(t, reg.URL("team/app", "v1")), mustParse(t, "oci-layout:"+layout+"@"+testDigest), plainHTTP)
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("Mirror to another digest: %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(layout); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused mirror created the layout: %v", err)
	}
	res := mirrorOK(t, reg.URL("team/app", "v1"), "oci-layout:"+layout+":copy@"+desc.Digest.String(), plainHTTP)
	if res.Tag != "copy" || res.Digest != desc.Digest.String() {
		t.Fatalf("mirror to the same digest: %+v", res)
	}
}

// TestMirrorMergesLegacySignatures checks that a destination that already
// holds other legacy signatures for the digest keeps them.
func TestMirrorMergesLegacySignatures(t *testing.T) {
	ctx := context.Background()
	src, dst := registrytest.Start(t), registrytest.Start(t)
	desc := pushArtifact(t, src, "team/app", "v1", "kind: ConfigMap\n")
	if got := pushArtifact(t, dst, "team/app", "v1", "kind: ConfigMap\n"); got.Digest != desc.Digest {
		t.Fatalf("the same content pushed twice has two digests: %s, %s", desc.Digest, got.Digest)
	}
	ciKey, siteKey := newKey(t), newKey(t)
	_, srcRepo := src.Repository(t, "team/app", "v1")
	_, dstRepo := dst.Repository(t, "team/app", "v1")
	if err := cosignfmt.SignLegacy(ctx, srcRepo, desc, src.Repo("team/app"), ciKey); err != nil {
		t.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, dstRepo, desc, dst.Repo("team/app"), siteKey); err != nil {
		t.Fatal(err)
	}
	res := mirrorOK(t, src.URL("team/app", "v1"), dst.URL("team/app", "v1"), plainHTTP)
	if res.Signatures != 1 {
		t.Fatalf("signatures carried = %d, want 1", res.Signatures)
	}
	p := policy(ciKey, siteKey)
	p.Threshold = 2
	if v, err := verify.Verify(ctx, dstRepo, desc, p); err != nil || !v.Verified {
		t.Fatalf("after the merge both keys must verify: %+v, %v", v, err)
	}
	sigDesc, err := dstRepo.Resolve(ctx, cosignfmt.LegacySignatureTag(desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, dstRepo, sigDesc)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("merged signature manifest holds %d layers, want 2", len(m.Layers))
	}
	// Mirroring again adds no duplicate.
	mirrorOK(t, src.URL("team/app", "v1"), dst.URL("team/app", "v1"), plainHTTP)
	again, err := dstRepo.Resolve(ctx, cosignfmt.LegacySignatureTag(desc.Digest))
	if err != nil || again.Digest != sigDesc.Digest {
		t.Fatalf("a second mirror rewrote the merged signatures: %v, %v", again.Digest, err)
	}
	cfg, err := content.FetchAll(ctx, dstRepo, m.Config)
	if err != nil || !strings.Contains(string(cfg), m.Layers[1].Digest.String()) {
		t.Fatalf("merged config does not list the new layer: %s, %v", cfg, err)
	}
}

// TestMirrorVerifiesAtTheDestination checks that with a policy the copy is
// verified where it landed: a destination that serves other bytes for the
// signatures fails the mirror, naming the destination.
func TestMirrorVerifiesAtTheDestination(t *testing.T) {
	ctx := context.Background()
	key := newKey(t)
	src := registrytest.Start(t)
	desc := pushArtifact(t, src, "team/app", "v1", "kind: ConfigMap\n")
	_, srcRepo := src.Repository(t, "team/app", "v1")
	if err := cosignfmt.SignLegacy(ctx, srcRepo, desc, src.Repo("team/app"), key); err != nil {
		t.Fatal(err)
	}
	// Copying only asks whether blobs exist; verifying reads them back.
	dst := registrytest.StartWith(t, registrytest.Options{Wrap: registrytest.Corrupt(func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	})})
	p := policy(key)
	opts := plainHTTP
	opts.Policy = &p
	_, err := Mirror(ctx, mustParse(t, src.URL("team/app", "v1")), mustParse(t, dst.URL("team/app", "v1")), opts)
	var me *Error
	if !errors.As(err, &me) || me.Op != "verify" || me.Location != dst.URL("team/app", "v1") {
		t.Fatalf("Mirror to a destination that corrupts signatures: %v, want a verify error at the destination", err)
	}
	if !strings.Contains(err.Error(), "do not verify") {
		t.Errorf("error %q does not say the copied signatures fail", err)
	}
	// Without a policy there is nothing to check and the copy succeeds.
	if _, err := Mirror(ctx, mustParse(t, src.URL("team/app", "v1")), mustParse(t, dst.URL("team/app", "v2")), plainHTTP); err != nil {
		t.Fatalf("Mirror without a policy: %v", err)
	}
}
