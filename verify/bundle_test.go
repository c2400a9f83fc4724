package verify

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
)

func (f *fixture) signBundle(subject ocispec.Descriptor, keys ...crypto.Signer) {
	f.t.Helper()
	for _, k := range keys {
		if _, err := cosignfmt.SignBundle(context.Background(), f.repo, subject, k); err != nil {
			f.t.Fatalf("SignBundle: %v", err)
		}
	}
}

// referBundle pushes raw as a bundle layer of a referrer manifest whose
// subject is subject.
func (f *fixture) referBundle(subject ocispec.Descriptor, raw []byte) {
	f.t.Helper()
	ctx := context.Background()
	layer := content.NewDescriptorFromBytes(cosignfmt.BundleMediaType, raw)
	if err := f.repo.Push(ctx, layer, strings.NewReader(string(raw))); err != nil && !strings.Contains(err.Error(), "exists") {
		f.t.Fatal(err)
	}
	if _, err := oras.PackManifest(ctx, f.repo, oras.PackManifestVersion1_1, cosignfmt.BundleMediaType,
		oras.PackManifestOptions{Subject: &subject, Layers: []ocispec.Descriptor{layer}}); err != nil {
		f.t.Fatal(err)
	}
}

// signedStatement returns a key bundle whose DSSE payload is statement.
func signedStatement(t *testing.T, k crypto.Signer, statement any) []byte {
	t.Helper()
	payload, err := json.Marshal(statement)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cosignfmt.Sign(k, cosignfmt.PAE(cosignfmt.InTotoPayloadType, payload))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cosignfmt.Bundle{
		MediaType:            cosignfmt.BundleMediaType,
		VerificationMaterial: cosignfmt.VerificationMaterial{PublicKey: &cosignfmt.PublicKeyIdentifier{Hint: cosignfmt.KeyHint(k.Public())}},
		DSSEEnvelope: &cosignfmt.Envelope{Payload: payload, PayloadType: cosignfmt.InTotoPayloadType,
			Signatures: []cosignfmt.EnvelopeSignature{{Sig: sig}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyBundles(t *testing.T) {
	f := newFixture(t)
	a, b, c := newKey(t), newKey(t), newKey(t)
	fpA, fpB := cosignfmt.Fingerprint(a.Public()), cosignfmt.Fingerprint(b.Public())

	bundleA := f.subject("bundle-a")
	f.signBundle(bundleA, a)
	// One key per format: a bundle by a, a legacy signature by b.
	mixed := f.subject("mixed-formats")
	f.signBundle(mixed, a)
	f.sign(mixed, b)
	bothAB := f.subject("bundles-ab")
	f.signBundle(bothAB, a, b)

	// A bundle made for bundleA, filed as a referrer of another digest.
	replayed := f.subject("replayed")
	other, err := cosignfmt.NewKeyBundle(a, bundleA.Digest)
	if err != nil {
		t.Fatal(err)
	}
	f.referBundle(replayed, other)

	// An attestation by a: valid signature, names the digest, but is not an
	// image signature.
	attested := f.subject("attested")
	st := cosignfmt.NewSignStatement(attested.Digest)
	st.PredicateType = "https://slsa.dev/provenance/v1"
	f.referBundle(attested, signedStatement(t, a, st))

	// A statement that names another digest, filed under this one.
	misnamed := f.subject("misnamed")
	f.referBundle(misnamed, signedStatement(t, a, cosignfmt.NewSignStatement(digest.FromString("elsewhere"))))

	// Garbage next to a good bundle.
	junk := f.subject("junk")
	f.referBundle(junk, []byte(`{"mediaType":"`+cosignfmt.BundleMediaType+`"}`))
	f.signBundle(junk, a)

	// A tampered payload: signature by a over something else.
	tampered := f.subject("tampered")
	good, _ := cosignfmt.NewKeyBundle(a, tampered.Digest)
	var tb cosignfmt.Bundle
	_ = json.Unmarshal(good, &tb)
	tb.DSSEEnvelope.Payload = []byte(strings.Replace(string(tb.DSSEEnvelope.Payload), `"predicate":{}`, `"predicate":{"x":1}`, 1))
	tbRaw, _ := json.Marshal(tb)
	f.referBundle(tampered, tbRaw)

	keys := func(ks ...crypto.Signer) []crypto.PublicKey {
		var out []crypto.PublicKey
		for _, k := range ks {
			out = append(out, k.Public())
		}
		return out
	}
	tests := []verdictCase{
		{name: "bundle by the policy key", subject: bundleA, policy: Policy{Keys: keys(a)}, wantSigners: []string{fpA}},
		{name: "bundle by another key", subject: bundleA, policy: Policy{Keys: keys(c)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 not signed by any policy key"},
		{name: "threshold across formats", subject: mixed, policy: Policy{Threshold: 2, Keys: keys(a, b)}, wantSigners: []string{fpA, fpB}},
		{name: "threshold of bundles", subject: bothAB, policy: Policy{Threshold: 2, Keys: keys(a, b, c)}, wantSigners: []string{fpA, fpB}},
		{name: "threshold not met", subject: bundleA, policy: Policy{Threshold: 2, Keys: keys(a, b)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "2 required"},
		{name: "bundle replayed from another digest", subject: replayed, policy: Policy{Keys: keys(a)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 for another digest"},
		{name: "attestation is not a signature", subject: attested, policy: Policy{Keys: keys(a)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 not an image signature"},
		{name: "statement names another digest", subject: misnamed, policy: Policy{Keys: keys(a)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 for another digest"},
		{name: "junk next to a good bundle", subject: junk, policy: Policy{Keys: keys(a)}, wantSigners: []string{fpA}},
		{name: "tampered statement", subject: tampered, policy: Policy{Keys: keys(a)}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 not signed by any policy key"},
		{name: "audit: other key", subject: bundleA, policy: Policy{Mode: Audit, Keys: keys(c)}, wantInMsg: "not signed by any policy key"},
	}
	for _, tt := range tests {
		tt.run(t, f.repo)
	}
}

// TestSignBundleUsesReferrersTagFallback checks the storage: the test
// registry has no referrers API, so the bundle manifest must be listed in
// the sha256-<hex> index, and signing twice with one key writes once.
func TestSignBundleUsesReferrersTagFallback(t *testing.T) {
	f := newFixture(t)
	a := newKey(t)
	ctx := context.Background()
	subject := f.subject("v1")
	first, err := cosignfmt.SignBundle(ctx, f.repo, subject, a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cosignfmt.SignBundle(ctx, f.repo, subject, a)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != first.Digest {
		t.Errorf("second signature by the same key wrote %s, want the existing %s", again.Digest, first.Digest)
	}
	idxDesc, err := f.repo.Resolve(ctx, cosignfmt.ReferrersTag(subject.Digest))
	if err != nil {
		t.Fatalf("referrers tag fallback index missing: %v", err)
	}
	raw, err := content.FetchAll(ctx, f.repo, idxDesc)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := cosignfmt.ParseReferrersIndex(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != first.Digest || idx.Manifests[0].ArtifactType != cosignfmt.BundleMediaType {
		t.Fatalf("fallback index = %+v, want the one bundle manifest %s", idx.Manifests, first.Digest)
	}
}

// TestVerifyBundleInOtherStores covers the two other discovery paths: a
// graph store answering from its own index (memory), and a plain target
// read through the referrers tag.
func TestVerifyBundleInOtherStores(t *testing.T) {
	ctx := context.Background()
	a := newKey(t)
	store := memory.New()
	subject, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.example", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosignfmt.SignBundle(ctx, store, subject, a); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(ctx, store, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
	if err != nil || !v.Verified {
		t.Fatalf("memory store: %+v, %v", v, err)
	}

	// Copy into a plain target with a hand-written referrers tag.
	f := newFixture(t)
	plain := plainTarget{f.repo}
	subj := f.subject("plain")
	m, err := cosignfmt.SignBundle(ctx, f.repo, subj, a)
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	v, err = Verify(ctx, plain, subj, Policy{Keys: []crypto.PublicKey{a.Public()}})
	if err != nil || !v.Verified {
		t.Fatalf("plain target through the referrers tag: %+v, %v", v, err)
	}
}

// plainTarget hides everything but oras.ReadOnlyTarget.
type plainTarget struct{ oras.ReadOnlyTarget }

func TestVerifyBundleLimits(t *testing.T) {
	ctx := context.Background()
	a := newKey(t)

	t.Run("too many referrers", func(t *testing.T) {
		f := newFixture(t)
		subject := f.subject("crowded")
		raw, _ := cosignfmt.NewKeyBundle(a, subject.Digest)
		layer := content.NewDescriptorFromBytes(cosignfmt.BundleMediaType, raw)
		if err := f.repo.Push(ctx, layer, strings.NewReader(string(raw))); err != nil {
			t.Fatal(err)
		}
		for i := range limits.MaxSignatures + 1 {
			if _, err := oras.PackManifest(ctx, f.repo, oras.PackManifestVersion1_1, cosignfmt.BundleMediaType, oras.PackManifestOptions{
				Subject: &subject, Layers: []ocispec.Descriptor{layer},
				ManifestAnnotations: map[string]string{"n": strconv.Itoa(i), ocispec.AnnotationCreated: "2024-01-01T00:00:00Z"},
			}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Verify(ctx, f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
		if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errdef.IsTerminal(err) {
			t.Fatalf("err = %v, want a terminal ErrSizeExceedsLimit", err)
		}
	})

	t.Run("referrers listing over the client's cap", func(t *testing.T) {
		f := newFixture(t)
		subject := f.subject("long-list")
		for range 3 {
			f.signBundle(subject, newKey(t))
		}
		f.repo.MaxMetadataBytes = 256 // the fallback index is larger
		_, err := Verify(ctx, f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
		if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errdef.IsTerminal(err) {
			t.Fatalf("err = %v, want a terminal ErrSizeExceedsLimit", err)
		}
	})

	t.Run("oversized bundle", func(t *testing.T) {
		f := newFixture(t)
		subject := f.subject("huge")
		good, _ := cosignfmt.NewKeyBundle(a, subject.Digest)
		huge := strings.Replace(string(good), `{`, `{"pad":"`+strings.Repeat("a", int(limits.MaxSignaturePayloadBytes))+`",`, 1)
		f.referBundle(subject, []byte(huge))
		v, err := Verify(ctx, f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
		if !errors.Is(err, errdef.ErrSignatureInvalid) || !strings.Contains(v.Reason, problemUnreadable) {
			t.Fatalf("err = %v, reason %q; want the bundle refused as unreadable", err, v.Reason)
		}
	})

	t.Run("referrer manifest for another subject", func(t *testing.T) {
		// The referrers tag of one digest lists a manifest whose subject is
		// another: the listing is not trusted.
		f := newFixture(t)
		subject, elsewhere := f.subject("listed"), f.subject("elsewhere")
		m, err := cosignfmt.SignBundle(ctx, f.repo, elsewhere, a)
		if err != nil {
			t.Fatal(err)
		}
		idx := ocispec.Index{Manifests: []ocispec.Descriptor{m}}
		idx.SchemaVersion = 2
		idx.MediaType = ocispec.MediaTypeImageIndex
		b, _ := json.Marshal(idx)
		if _, err := oras.TagBytes(ctx, f.repo, ocispec.MediaTypeImageIndex, b, cosignfmt.ReferrersTag(subject.Digest)); err != nil {
			t.Fatal(err)
		}
		v, err := Verify(ctx, f.repo, subject, Policy{Keys: []crypto.PublicKey{a.Public()}})
		if !errors.Is(err, errdef.ErrSignatureInvalid) || !strings.Contains(v.Reason, "1 for another digest") {
			t.Fatalf("err = %v, reason %q; want the listed manifest refused", err, v.Reason)
		}
	})
}
