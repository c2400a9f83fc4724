package cosignfmt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

func newECDSA(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newRepo starts a registry and returns a plain-HTTP repository in it.
func newRepo(t *testing.T, name string) (*remote.Repository, string) {
	t.Helper()
	reg := registrytest.Start(t)
	repo, err := remote.NewRepository(reg.Repo(name))
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo, reg.Repo(name)
}

// pushSubject pushes a small artifact manifest tagged tag and returns it.
func pushSubject(t *testing.T, target oras.Target, tag string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "application/vnd.sealift.test",
		oras.PackManifestOptions{ManifestAnnotations: map[string]string{"tag": tag}})
	if err != nil {
		t.Fatalf("pack manifest: %v", err)
	}
	if err := target.Tag(ctx, desc, tag); err != nil {
		t.Fatalf("tag: %v", err)
	}
	return desc
}

func fetchSigManifest(t *testing.T, target oras.ReadOnlyTarget, d digest.Digest) (ocispec.Manifest, []byte) {
	t.Helper()
	ctx := context.Background()
	desc, err := target.Resolve(ctx, LegacySignatureTag(d))
	if err != nil {
		t.Fatalf("resolve signature tag: %v", err)
	}
	raw, err := content.FetchAll(ctx, target, desc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseSignatureManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

func TestLegacySignatureTag(t *testing.T) {
	if got, want := LegacySignatureTag(testDigest), "sha256-"+testDigest.Encoded()+".sig"; got != want {
		t.Errorf("LegacySignatureTag = %s, want %s", got, want)
	}
}

func TestSignLegacyWritesCosignShape(t *testing.T) {
	ctx := context.Background()
	repo, repoName := newRepo(t, "team/app")
	subject := pushSubject(t, repo, "v1")
	key := newECDSA(t)

	if err := SignLegacy(ctx, repo, subject, repoName, key); err != nil {
		t.Fatalf("SignLegacy: %v", err)
	}
	m, raw := fetchSigManifest(t, repo, subject.Digest)

	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if generic["mediaType"] != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest mediaType = %v", generic["mediaType"])
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type = %s", m.Config.MediaType)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("layers = %d, want 1", len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != SimpleSigningMediaType {
		t.Errorf("layer media type = %s", l.MediaType)
	}
	payload, err := FetchPayload(ctx, repo, l)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseSimpleSigning(payload)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Digest() != subject.Digest || doc.Critical.Identity.DockerReference != repoName {
		t.Errorf("payload names %s in %s", doc.Digest(), doc.Critical.Identity.DockerReference)
	}
	sig, err := DecodeSignature(l)
	if err != nil {
		t.Fatal(err)
	}
	// Check with sigstore's verifier, the one cosign uses for key-based checks.
	v, err := signature.LoadVerifier(key.Public(), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(strings.NewReader(string(sig)), strings.NewReader(string(payload))); err != nil {
		t.Errorf("sigstore verifier rejects our signature: %v", err)
	}

	cfg, err := content.FetchAll(ctx, repo, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		RootFS struct {
			Type    string          `json:"type"`
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
		History []map[string]any `json:"history"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if c.RootFS.Type != "layers" || len(c.RootFS.DiffIDs) != 1 || c.RootFS.DiffIDs[0] != l.Digest || len(c.History) != 1 {
		t.Errorf("config does not describe the layer: %s", cfg)
	}
}

func TestCosignVerifiesLegacySignature(t *testing.T) {
	ctx := context.Background()
	repo, repoName := newRepo(t, "app")
	subject := pushSubject(t, repo, "v1")
	key := newECDSA(t)
	if err := SignLegacy(ctx, repo, subject, repoName, key); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repoName+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    crypto.PublicKey
		wantOK bool
	}{
		{"signing key", key.Public(), true},
		{"other key", newECDSA(t).Public(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := signature.LoadVerifier(tt.key, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			sigs, _, err := cosign.VerifyImageSignatures(ctx, ref, &cosign.CheckOpts{
				SigVerifier:   v,
				IgnoreTlog:    true,
				IgnoreSCT:     true,
				ClaimVerifier: cosign.SimpleClaimVerifier,
			})
			if tt.wantOK {
				if err != nil || len(sigs) != 1 {
					t.Fatalf("cosign verification: %d signatures, err %v", len(sigs), err)
				}
			} else if err == nil {
				t.Fatalf("cosign accepted a signature with the wrong key")
			}
		})
	}
}

func TestSignLegacyAppendsAndDedupes(t *testing.T) {
	ctx := context.Background()
	repo, repoName := newRepo(t, "app")
	subject := pushSubject(t, repo, "v1")

	// A signature layer some other tool wrote before us.
	foreign := content.NewDescriptorFromBytes(SimpleSigningMediaType, []byte(`{"foreign":true}`))
	foreign.Annotations = map[string]string{SignatureAnnotation: "AAAA", "dev.sigstore.cosign/bundle": "{}"}
	if err := repo.Push(ctx, foreign, strings.NewReader(`{"foreign":true}`)); err != nil {
		t.Fatal(err)
	}
	cfg, _ := SignatureConfig([]ocispec.Descriptor{foreign})
	cfgDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	if err := repo.Push(ctx, cfgDesc, strings.NewReader(string(cfg))); err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{foreign}})
	if _, err := oras.TagBytes(ctx, repo, ocispec.MediaTypeImageManifest, mb, LegacySignatureTag(subject.Digest)); err != nil {
		t.Fatal(err)
	}

	a, b := newECDSA(t), newECDSA(t)
	steps := []struct {
		name       string
		key        crypto.Signer
		wantLayers int
	}{
		{"first key appends", a, 2},
		{"same key again is a no-op", a, 2},
		{"second key appends", b, 3},
		{"second key again is a no-op", b, 3},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := SignLegacy(ctx, repo, subject, repoName, s.key); err != nil {
				t.Fatal(err)
			}
			m, _ := fetchSigManifest(t, repo, subject.Digest)
			if len(m.Layers) != s.wantLayers {
				t.Fatalf("layers = %d, want %d", len(m.Layers), s.wantLayers)
			}
			if m.Layers[0].Digest != foreign.Digest || m.Layers[0].Annotations["dev.sigstore.cosign/bundle"] != "{}" {
				t.Errorf("existing layer was not kept as it was: %+v", m.Layers[0])
			}
		})
	}
}

func TestSignLegacyRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	repo, repoName := newRepo(t, "app")
	subject := pushSubject(t, repo, "v1")
	key := newECDSA(t)
	tests := []struct {
		name    string
		subject ocispec.Descriptor
		ref     string
		signer  crypto.Signer
		wantErr error
	}{
		{"bad digest", ocispec.Descriptor{Digest: "sha256:nope"}, repoName, key, errdef.ErrInvalidReference},
		{"empty reference", subject, "", key, errdef.ErrInvalidReference},
		{"no key", subject, repoName, nil, errdef.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SignLegacy(ctx, repo, tt.subject, tt.ref, tt.signer)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestFetchPayloadChecksContent(t *testing.T) {
	ctx := context.Background()
	repo, _ := newRepo(t, "app")
	body := []byte(`{"payload":1}`)
	desc := content.NewDescriptorFromBytes(SimpleSigningMediaType, body)
	if err := repo.Push(ctx, desc, strings.NewReader(string(body))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		desc    ocispec.Descriptor
		wantErr error
	}{
		{"ok", desc, nil},
		{"size too large", ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: 1 << 30}, errdef.ErrSizeExceedsLimit},
		// The registry's Content-Length disagrees; the transport refuses it.
		{"size lies", ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size - 1}, errAny},
		{"missing blob", content.NewDescriptorFromBytes(SimpleSigningMediaType, []byte("other")), errdef.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := FetchPayload(ctx, repo, tt.desc)
			if tt.wantErr == nil {
				if err != nil || string(b) != string(body) {
					t.Fatalf("FetchPayload = %q, %v", b, err)
				}
				return
			}
			if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// errAny marks a case where any error will do.
var errAny = errors.New("any error")

func TestParseSignatureManifest(t *testing.T) {
	layer := `{"mediaType":"` + SimpleSigningMediaType + `","digest":"` + testDigest.String() + `","size":10}`
	manifest := func(mt, layers string) string {
		return `{"schemaVersion":2,"mediaType":"` + mt + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + testDigest.String() + `","size":2},"layers":[` + layers + `]}`
	}
	many := strings.TrimSuffix(strings.Repeat(layer+",", 1001), ",")
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"oci", manifest(ocispec.MediaTypeImageManifest, layer), nil},
		{"docker", manifest(dockerManifestMediaType, layer), nil},
		{"no media type", manifest("", layer), nil},
		{"index", manifest(ocispec.MediaTypeImageIndex, layer), errdef.ErrInvalidManifest},
		{"schema 1", strings.Replace(manifest("", layer), `"schemaVersion":2`, `"schemaVersion":1`, 1), errdef.ErrInvalidManifest},
		{"bad layer digest", manifest("", strings.Replace(layer, testDigest.String(), "sha256:00", 1)), errdef.ErrInvalidManifest},
		{"negative size", manifest("", strings.Replace(layer, `"size":10`, `"size":-1`, 1)), errdef.ErrInvalidManifest},
		{"too many layers", manifest("", many), errdef.ErrSizeExceedsLimit},
		{"not json", "{", errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSignatureManifest([]byte(tt.in))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseSignatureManifest(f *testing.F) {
	cfg, _ := SignatureConfig(nil)
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg),
		Layers:    []ocispec.Descriptor{content.NewDescriptorFromBytes(SimpleSigningMediaType, []byte("{}"))},
	})
	f.Add(m)
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"digest":"sha256:x","size":-5}]}`))
	f.Add([]byte(`{"schemaVersion":2,"layers":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSignatureManifest(b)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidManifest) && !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		for _, l := range m.Layers {
			if l.Digest.Validate() != nil || l.Size < 0 {
				t.Fatalf("accepted bad layer %+v", l)
			}
		}
	})
}

func TestFetchPayloadRejectsTamperedBytes(t *testing.T) {
	body := []byte(`{"payload":1}`)
	desc := content.NewDescriptorFromBytes(SimpleSigningMediaType, body)
	tampered := content.FetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(`{"payload":2}`)), nil
	})
	if _, err := FetchPayload(context.Background(), tampered, desc); !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
}
