package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a repository in a real registry with helpers to fill it.
type fixture struct {
	t    *testing.T
	repo *remote.Repository
	name string // host/path
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := registrytest.Start(t)
	repo, err := remote.NewRepository(reg.Repo("team/app"))
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return &fixture{t: t, repo: repo, name: reg.Repo("team/app")}
}

// subject pushes a distinct small manifest tagged tag.
func (f *fixture) subject(tag string) ocispec.Descriptor {
	f.t.Helper()
	ctx := context.Background()
	desc, err := oras.PackManifest(ctx, f.repo, oras.PackManifestVersion1_1, "application/vnd.sealift.test",
		oras.PackManifestOptions{ManifestAnnotations: map[string]string{"tag": tag}})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.Tag(ctx, desc, tag); err != nil {
		f.t.Fatal(err)
	}
	return desc
}

func (f *fixture) sign(subject ocispec.Descriptor, keys ...crypto.Signer) {
	f.t.Helper()
	for _, k := range keys {
		if err := cosignfmt.SignLegacy(context.Background(), f.repo, subject, f.name, k); err != nil {
			f.t.Fatalf("SignLegacy: %v", err)
		}
	}
}

// writeSignatures replaces the signature manifest of target with one
// holding the given payloads and base64 signatures.
func (f *fixture) writeSignatures(target digest.Digest, payloads [][]byte, sigs []string) {
	f.t.Helper()
	ctx := context.Background()
	var layers []ocispec.Descriptor
	for i, p := range payloads {
		d := content.NewDescriptorFromBytes(cosignfmt.SimpleSigningMediaType, p)
		if err := f.repo.Push(ctx, d, strings.NewReader(string(p))); err != nil && !strings.Contains(err.Error(), "exists") {
			f.t.Fatal(err)
		}
		d.Annotations = map[string]string{cosignfmt.SignatureAnnotation: sigs[i]}
		layers = append(layers, d)
	}
	cfg := []byte("{}")
	cd := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	if err := f.repo.Push(ctx, cd, strings.NewReader("{}")); err != nil && !strings.Contains(err.Error(), "exists") {
		f.t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: layers}
	m.SchemaVersion = 2
	b, _ := json.Marshal(m)
	if _, err := oras.TagBytes(ctx, f.repo, ocispec.MediaTypeImageManifest, b, cosignfmt.LegacySignatureTag(target)); err != nil {
		f.t.Fatal(err)
	}
}

// signatures reads back the payloads and signatures stored for d.
func (f *fixture) signatures(d digest.Digest) ([][]byte, []string) {
	f.t.Helper()
	ctx := context.Background()
	desc, err := f.repo.Resolve(ctx, cosignfmt.LegacySignatureTag(d))
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, f.repo, desc)
	if err != nil {
		f.t.Fatal(err)
	}
	var payloads [][]byte
	var sigs []string
	for _, l := range m.Layers {
		p, err := cosignfmt.FetchPayload(ctx, f.repo, l)
		if err != nil {
			f.t.Fatal(err)
		}
		payloads = append(payloads, p)
		sigs = append(sigs, l.Annotations[cosignfmt.SignatureAnnotation])
	}
	return payloads, sigs
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	a, b, c := newKey(t), newKey(t), newKey(t)
	fpA, fpB := cosignfmt.Fingerprint(a.Public()), cosignfmt.Fingerprint(b.Public())

	signedA := f.subject("signed-a")
	f.sign(signedA, a)
	signedAB := f.subject("signed-ab")
	f.sign(signedAB, a, b)
	unsigned := f.subject("unsigned")

	// A valid signature by a, copied from signedA to another digest.
	copied := f.subject("copied")
	payloads, sigs := f.signatures(signedA.Digest)
	f.writeSignatures(copied.Digest, payloads, sigs)

	// A payload altered after signing: same digest, another repository name.
	tampered := f.subject("tampered")
	f.sign(tampered, a)
	payloads, sigs = f.signatures(tampered.Digest)
	altered := []byte(strings.Replace(string(payloads[0]), f.name, "evil.example/app", 1))
	f.writeSignatures(tampered.Digest, [][]byte{altered}, sigs)

	// Junk alongside a good signature does not spoil it.
	mixed := f.subject("mixed")
	f.sign(mixed, a)
	payloads, sigs = f.signatures(mixed.Digest)
	f.writeSignatures(mixed.Digest,
		[][]byte{[]byte("not json"), payloads[0], payloads[0]},
		[]string{sigs[0], "%%%", sigs[0]})

	tests := []verdictCase{
		{name: "signed by the policy key", subject: signedA, policy: Policy{Keys: []crypto.PublicKey{a.Public()}}, wantSigners: []string{fpA}},
		{name: "one of several keys", subject: signedA, policy: Policy{Keys: []crypto.PublicKey{c.Public(), a.Public()}}, wantSigners: []string{fpA}},
		{name: "other key rejected", subject: signedA, policy: Policy{Keys: []crypto.PublicKey{b.Public()}}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 not signed by any policy key"},
		{name: "unsigned rejected", subject: unsigned, policy: Policy{Keys: []crypto.PublicKey{a.Public()}}, wantErr: errdef.ErrNoSignature, wantInMsg: "no signatures found"},
		{name: "signature copied from another digest", subject: copied, policy: Policy{Keys: []crypto.PublicKey{a.Public()}}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 for another digest"},
		{name: "tampered payload", subject: tampered, policy: Policy{Keys: []crypto.PublicKey{a.Public()}}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "0 valid"},
		{name: "junk next to a valid signature", subject: mixed, policy: Policy{Keys: []crypto.PublicKey{a.Public()}}, wantSigners: []string{fpA}},
		{name: "threshold 2, both signed", subject: signedAB, policy: Policy{Threshold: 2, Keys: []crypto.PublicKey{a.Public(), b.Public()}}, wantSigners: []string{fpA, fpB}},
		{name: "threshold 2, one signed", subject: signedA, policy: Policy{Threshold: 2, Keys: []crypto.PublicKey{a.Public(), b.Public()}}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 valid from 1 distinct keys, 2 required"},
		{name: "same key twice cannot meet threshold 2", subject: signedAB, policy: Policy{Threshold: 2, Keys: []crypto.PublicKey{a.Public(), a.Public()}}, wantErr: errdef.ErrPolicyViolation},
		{name: "no keys", subject: signedA, policy: Policy{}, wantErr: errdef.ErrPolicyViolation},
		{name: "unknown mode", subject: signedA, policy: Policy{Mode: "warn", Keys: []crypto.PublicKey{a.Public()}}, wantErr: errdef.ErrPolicyViolation},
		{name: "negative threshold", subject: signedA, policy: Policy{Threshold: -1, Keys: []crypto.PublicKey{a.Public()}}, wantErr: errdef.ErrPolicyViolation},
		{name: "audit: unsigned reported, not failed", subject: unsigned, policy: Policy{Mode: Audit, Keys: []crypto.PublicKey{a.Public()}}, wantInMsg: "no signatures found"},
		{name: "audit: other key reported, not failed", subject: signedA, policy: Policy{Mode: Audit, Keys: []crypto.PublicKey{b.Public()}}, wantInMsg: "not signed by any policy key"},
		{name: "audit: signed", subject: signedA, policy: Policy{Mode: Audit, Keys: []crypto.PublicKey{a.Public()}}, wantSigners: []string{fpA}},
	}
	for _, tt := range tests {
		tt.run(t, f.repo)
	}
}

func TestVerifyRefusesTooManySignatures(t *testing.T) {
	f := newFixture(t)
	a := newKey(t)
	subject := f.subject("v1")
	f.sign(subject, a)
	payloads, sigs := f.signatures(subject.Digest)
	var ps [][]byte
	var ss []string
	for range limits.MaxSignatures + 1 {
		ps = append(ps, payloads[0])
		ss = append(ss, sigs[0])
	}
	f.writeSignatures(subject.Digest, ps, ss)
	_, err := Verify(context.Background(), f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errors.Is(err, errdef.ErrSignatureInvalid) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit and ErrSignatureInvalid", err)
	}
}

func TestVerifyRegistryFailureIsNotTerminal(t *testing.T) {
	// Nothing listens on port 1.
	repo, err := remote.NewRepository("127.0.0.1:1/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}
	_, err = Verify(context.Background(), repo, subject, Policy{Keys: []crypto.PublicKey{newKey(t).Public()}})
	if err == nil {
		t.Fatalf("Verify succeeded against an unreachable registry")
	}
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Errorf("err is not a *VerificationError: %v", err)
	}
	if errdef.IsTerminal(err) {
		t.Errorf("unreachable registry reported as terminal: %v", err)
	}
}

// TestVerifyCosignWrittenSignature signs with cosign's own writer code and
// checks that Verify accepts it, and that SignLegacy appends to it.
func TestVerifyCosignWrittenSignature(t *testing.T) {
	f := newFixture(t)
	a, b := newKey(t), newKey(t)
	subject := f.subject("v1")

	payload, err := json.Marshal(cosignfmt.NewSimpleSigning(f.name, subject.Digest, nil))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cosignfmt.Sign(a, payload)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(f.name+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(ref)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	se, err = mutate.AttachSignatureToEntity(se, sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(ref.Context(), se); err != nil {
		t.Fatalf("cosign WriteSignatures: %v", err)
	}

	v, err := Verify(context.Background(), f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
	if err != nil || !v.Verified {
		t.Fatalf("cosign-written signature not accepted: %+v, %v", v, err)
	}

	f.sign(subject, b)
	v, err = Verify(context.Background(), f.repo, subject, Policy{Threshold: 2, Keys: []crypto.PublicKey{a.Public(), b.Public()}})
	if err != nil || len(v.Signers) != 2 {
		t.Fatalf("after appending to cosign's manifest: %+v, %v", v, err)
	}
}

func TestPolicyHash(t *testing.T) {
	a, b := newKey(t).Public(), newKey(t).Public()
	base := Policy{Keys: []crypto.PublicKey{a, b}}
	tests := []struct {
		name  string
		other Policy
		same  bool
	}{
		{"identical", Policy{Keys: []crypto.PublicKey{a, b}}, true},
		{"key order", Policy{Keys: []crypto.PublicKey{b, a}}, true},
		{"explicit defaults", Policy{Mode: Enforce, Threshold: 1, Keys: []crypto.PublicKey{a, b}}, true},
		{"duplicate key", Policy{Keys: []crypto.PublicKey{a, b, a}}, true},
		{"threshold", Policy{Threshold: 2, Keys: []crypto.PublicKey{a, b}}, false},
		{"mode", Policy{Mode: Audit, Keys: []crypto.PublicKey{a, b}}, false},
		{"fewer keys", Policy{Keys: []crypto.PublicKey{a}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h1, h2 := base.Hash(), tt.other.Hash()
			if !strings.HasPrefix(h1, "sha256:") || len(h1) != len("sha256:")+64 {
				t.Fatalf("hash %q is not sha256:<hex>", h1)
			}
			if (h1 == h2) != tt.same {
				t.Errorf("hash equal = %v, want %v", h1 == h2, tt.same)
			}
		})
	}
}

// TestPolicyNormalizeAgreesWithHash checks that the policy Verify applies
// and the one Hash names are settled the same way: duplicates dropped,
// defaults applied, errors naming positions in the policy as given.
func TestPolicyNormalizeAgreesWithHash(t *testing.T) {
	a, b := newKey(t).Public(), newKey(t).Public()
	id := Identity{Issuer: "https://issuer.example", Subject: "someone@example.com"}
	root := newVirtualSigstore(t).root

	p := Policy{Threshold: 4, Keys: []crypto.PublicKey{a, b, a}, Identities: []Identity{id, id}, TrustedRoot: root}
	if _, err := p.normalize(); err == nil || !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Fatalf("threshold 4 over 2 keys and 1 identity, listed twice each: err = %v, want %v", err, errdef.ErrPolicyViolation)
	}
	p.Threshold = 0
	n, err := p.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if n.mode != Enforce || n.threshold != defaultThreshold || len(n.keys) != 2 || len(n.identities) != 1 {
		t.Fatalf("normalized %+v: want enforce, threshold %d, 2 keys, 1 identity", n, defaultThreshold)
	}
	deduped := Policy{Mode: Enforce, Threshold: defaultThreshold, Keys: []crypto.PublicKey{b, a}, Identities: []Identity{id}, TrustedRoot: root}
	if p.Hash() != deduped.Hash() {
		t.Errorf("hash differs from the policy normalize settles on")
	}

	_, err = Policy{Keys: []crypto.PublicKey{a, a, "not a key"}}.normalize()
	if !errors.Is(err, errdef.ErrInvalidKey) || !strings.Contains(err.Error(), "policy key 2") {
		t.Errorf("err = %v, want %v naming policy key 2", err, errdef.ErrInvalidKey)
	}
	_, err = Policy{Keys: []crypto.PublicKey{a}, Identities: []Identity{id, id, {Issuer: "x"}}, TrustedRoot: root}.normalize()
	if !errors.Is(err, errdef.ErrPolicyViolation) || !strings.Contains(err.Error(), "identity 2") {
		t.Errorf("err = %v, want %v naming identity 2", err, errdef.ErrPolicyViolation)
	}
}

func TestCheckPayload(t *testing.T) {
	d := digest.FromString("subject")
	other := digest.FromString("other")
	good, _ := json.Marshal(cosignfmt.NewSimpleSigning("r/a", d, nil))
	wrong, _ := json.Marshal(cosignfmt.NewSimpleSigning("r/a", other, nil))
	tests := []struct {
		name    string
		payload []byte
		wantErr error
	}{
		{"match", good, nil},
		{"other digest", wrong, errdef.ErrDigestMismatch},
		{"malformed", []byte("{"), errdef.ErrInvalidManifest},
		{"digest with different case", []byte(strings.Replace(string(good), d.Encoded(), strings.ToUpper(d.Encoded()), 1)), errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkPayload(tt.payload, d)
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

func FuzzCheckPayload(f *testing.F) {
	d := digest.FromString("subject")
	good, _ := json.Marshal(cosignfmt.NewSimpleSigning("r/a", d, map[string]any{"k": "v"}))
	f.Add(good)
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"` + d.String() + ` "}}}`))
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"` + d.String() + `"}},"critical":{}}`))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := checkPayload(b, d); err != nil {
			return
		}
		// Accepted: it must name exactly d.
		doc, err := cosignfmt.ParseSimpleSigning(b)
		if err != nil || doc.Digest() != d {
			t.Fatalf("accepted a payload that does not name %s: %q", d, b)
		}
	})
}

// A registry that fails every payload read costs at most one round of
// concurrent reads: the first failure worth retrying stops the checks, and
// it is what Verify reports.
func TestVerifyStopsAtFirstRegistryFailure(t *testing.T) {
	blobs := registrytest.NewFaults(func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
	})
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: blobs.Wrap})
	repo, err := remote.NewRepository(reg.Repo("team/app"))
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Client: &http.Client{}} // no retries: count each read once
	f := &fixture{t: t, repo: repo, name: reg.Repo("team/app")}
	subject := f.subject("v1")
	const n = 40
	payloads := make([][]byte, n)
	sigs := make([]string, n)
	for i := range n {
		payloads[i] = []byte(fmt.Sprintf(`{"critical":{"image":{"docker-manifest-digest":%q},"type":"cosign container image signature","identity":{"docker-reference":"x"}},"optional":{"n":%d}}`, subject.Digest, i))
		sigs[i] = "c2ln"
	}
	f.writeSignatures(subject.Digest, payloads, sigs)
	faults := make([]registrytest.Fault, 10*n)
	for i := range faults {
		faults[i] = registrytest.Fault{Status: http.StatusServiceUnavailable}
	}
	blobs.Inject(faults...)

	_, err = Verify(context.Background(), repo, subject, Policy{Keys: []crypto.PublicKey{newKey(t).Public()}})
	if err == nil || errdef.IsTerminal(err) || errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the registry failure, worth retrying", err)
	}
	if got := len(blobs.Arrivals()); got == 0 || got > checkConcurrency {
		t.Errorf("%d payload reads reached the registry, want 1..%d (one round at most)", got, checkConcurrency)
	}
}

// verdictCase is one Verify call and the verdict it must give: wantErr, a
// terminal *VerificationError naming the digest, or else success; the
// signers when it verifies; a phrase of the reason.
type verdictCase struct {
	name        string
	subject     ocispec.Descriptor
	policy      Policy
	wantErr     error
	wantSigners []string
	wantInMsg   string
}

func (tt verdictCase) run(t *testing.T, src oras.ReadOnlyTarget) {
	t.Helper()
	t.Run(tt.name, func(t *testing.T) {
		v, err := Verify(context.Background(), src, tt.subject, tt.policy)
		if v.Digest != tt.subject.Digest.String() {
			t.Errorf("verdict digest = %s, want %s", v.Digest, tt.subject.Digest)
		}
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var ve *VerificationError
			if !errors.As(err, &ve) || ve.Digest != tt.subject.Digest.String() {
				t.Fatalf("err is not a *VerificationError for the digest: %v", err)
			}
			if !strings.Contains(err.Error(), tt.subject.Digest.String()) {
				t.Errorf("error does not name the digest: %v", err)
			}
			if !errdef.IsTerminal(err) {
				t.Errorf("policy failure is not terminal: %v", err)
			}
		} else if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if tt.wantInMsg != "" && !strings.Contains(v.Reason, tt.wantInMsg) {
			t.Errorf("reason %q does not contain %q", v.Reason, tt.wantInMsg)
		}
		if tt.wantSigners == nil {
			if v.Verified {
				t.Fatalf("verified, want not verified")
			}
			return
		}
		if !v.Verified {
			t.Fatalf("not verified: %s", v.Reason)
		}
		if strings.Join(v.Signers, ",") != strings.Join(tt.wantSigners, ",") {
			t.Errorf("signers = %v, want %v", v.Signers, tt.wantSigners)
		}
		for _, c := range v.Checked {
			if c.Signer == "" && c.Problem == "" {
				t.Errorf("check %+v has neither signer nor problem", c)
			}
		}
	})
}
