package cosignfmt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sealift-dev/sealift/errdef"
)

// sigstoreVerify checks raw with sigstore-go's verifier, as cosign v3 does
// for `cosign verify --key` without a transparency log.
func sigstoreVerify(t *testing.T, raw []byte, pub crypto.PublicKey, d digest.Digest) error {
	t.Helper()
	pb := &protobundle.Bundle{}
	if err := protojson.Unmarshal(raw, pb); err != nil {
		return err
	}
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		return err
	}
	sv, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	v, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := hex.DecodeString(d.Encoded())
	_, err = v.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", sum), sgverify.WithKey()))
	return err
}

func TestKeyBundleAcceptedBySigstoreGo(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	d := digest.FromString("subject")
	other := digest.FromString("other")
	for _, tt := range []struct {
		name   string
		signer crypto.Signer
	}{{"ECDSA P-256", ec256}, {"RSA 2048", rsaKey}, {"Ed25519", edKey}, {"ECDSA P-384", ec384}} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := NewKeyBundle(tt.signer, d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseBundle(raw)
			if err != nil {
				t.Fatalf("ParseBundle: %v", err)
			}
			if err := b.VerifyKey(tt.signer.Public(), d); err != nil {
				t.Fatalf("VerifyKey: %v", err)
			}
			if err := b.VerifyKey(tt.signer.Public(), other); !errors.Is(err, errdef.ErrDigestMismatch) {
				t.Fatalf("VerifyKey for another digest: err = %v, want ErrDigestMismatch", err)
			}
			if err := b.VerifyKey(ec256.Public(), d); tt.signer != crypto.Signer(ec256) && !errors.Is(err, errdef.ErrSignatureInvalid) {
				t.Fatalf("VerifyKey with another key: err = %v, want ErrSignatureInvalid", err)
			}
			if err := sigstoreVerify(t, raw, tt.signer.Public(), d); err != nil {
				t.Fatalf("sigstore-go rejects the bundle: %v\n%s", err, raw)
			}
			if err := sigstoreVerify(t, raw, tt.signer.Public(), other); err == nil {
				t.Fatalf("sigstore-go accepts the bundle for another digest")
			}
		})
	}
}

func TestMessageSignatureBundle(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	manifest := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(manifest)
	sum := sha256.Sum256(manifest)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: VerificationMaterial{PublicKey: &PublicKeyIdentifier{Hint: KeyHint(k.Public())}},
		MessageSignature:     &MessageSignature{MessageDigest: &MessageDigest{Algorithm: "SHA2_256", Digest: sum[:]}, Signature: sig},
	})
	if err := sigstoreVerify(t, raw, k.Public(), d); err != nil {
		t.Fatalf("sigstore-go rejects the test bundle: %v", err)
	}
	b, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyKey(k.Public(), d); err != nil {
		t.Fatalf("VerifyKey: %v", err)
	}
	if err := b.VerifyKey(k.Public(), digest.FromString("x")); !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("another digest: err = %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := b.VerifyKey(other.Public(), d); !errors.Is(err, errdef.ErrSignatureInvalid) {
		t.Fatalf("another key: err = %v", err)
	}
}

func TestParseBundle(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, err := NewKeyBundle(k, digest.FromString("x"))
	if err != nil {
		t.Fatal(err)
	}
	mt := `"mediaType":"` + BundleMediaType + `"`
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"good", string(good), nil},
		{"not JSON", "{", errdef.ErrInvalidManifest},
		{"unknown media type", strings.Replace(string(good), BundleMediaType, "application/vnd.dev.sigstore.bundle.v0.9+json", 1), errdef.ErrInvalidManifest},
		{"no content", `{` + mt + `,"verificationMaterial":{"publicKey":{}}}`, errdef.ErrInvalidManifest},
		{"no signatures", `{` + mt + `,"verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]}}`, errdef.ErrInvalidManifest},
		{"two contents", `{` + mt + `,"verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"signatures":[{"sig":"AA=="}]},"messageSignature":{"signature":"AA=="}}`, errdef.ErrInvalidManifest},
		{"no verification material", `{` + mt + `,"messageSignature":{"signature":"AA=="}}`, errdef.ErrInvalidManifest},
		{"too big", `{"pad":"` + strings.Repeat("a", 200<<10) + `"}`, errdef.ErrSizeExceedsLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.in))
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

func FuzzParseBundle(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := digest.FromString("subject")
	good, _ := NewKeyBundle(k, d)
	f.Add(good)
	f.Add([]byte(`{"mediaType":"` + BundleMediaType + `","verificationMaterial":{"publicKey":{}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		bu, err := ParseBundle(b)
		if err != nil {
			return
		}
		if err := bu.VerifyKey(k.Public(), d); err != nil {
			return
		}
		// Accepted: it must name d in a statement or message digest.
		if bu.DSSEEnvelope != nil {
			st, err := ParseStatement(bu.DSSEEnvelope.Payload)
			if err != nil || !st.Names(d) || st.PredicateType != SignPredicateType {
				t.Fatalf("accepted a bundle that does not sign %s: %q", d, b)
			}
		}
	})
}

func TestParseReferrersIndex(t *testing.T) {
	d := digest.FromString("m")
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr error
	}{
		{"empty index", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, 0, nil},
		{"one entry", `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":10,"artifactType":"` + BundleMediaType + `"}]}`, 1, nil},
		{"bad digest", `{"schemaVersion":2,"manifests":[{"digest":"sha256:xyz","size":1}]}`, 0, errdef.ErrInvalidManifest},
		{"negative size", `{"schemaVersion":2,"manifests":[{"digest":"` + d.String() + `","size":-1}]}`, 0, errdef.ErrInvalidManifest},
		{"schema 1", `{"schemaVersion":1}`, 0, errdef.ErrInvalidManifest},
		{"a manifest, not an index", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, 0, errdef.ErrInvalidManifest},
		{"not JSON", `[`, 0, errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := ParseReferrersIndex([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(idx.Manifests) != tt.wantN {
				t.Fatalf("got %d entries, %v; want %d", len(idx.Manifests), err, tt.wantN)
			}
		})
	}
}

func FuzzParseReferrersIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"` + digest.FromString("m").String() + `","size":10}]}`))
	f.Add([]byte(`{"schemaVersion":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ParseReferrersIndex(b)
		if err != nil {
			return
		}
		for _, m := range idx.Manifests {
			if m.Digest.Validate() != nil || m.Size < 0 {
				t.Fatalf("accepted an invalid entry %+v", m)
			}
		}
	})
}

func TestParseBundleManifest(t *testing.T) {
	subject := digest.FromString("subject")
	layer := `{"mediaType":"` + BundleMediaType + `","digest":"` + digest.FromString("b").String() + `","size":3}`
	manifest := func(artifactType, subj, layers string) string {
		s := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + artifactType + `",` +
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromString("{}").String() + `","size":2},"layers":[` + layers + `]`
		if subj != "" {
			s += `,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subj + `","size":1}`
		}
		return s + "}"
	}
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"good", manifest(BundleMediaType, subject.String(), layer), nil},
		{"other subject", manifest(BundleMediaType, digest.FromString("x").String(), layer), errdef.ErrDigestMismatch},
		{"no subject", manifest(BundleMediaType, "", layer), errdef.ErrInvalidManifest},
		{"other artifact type", manifest("application/vnd.example", subject.String(), layer), errdef.ErrInvalidManifest},
		{"no bundle layer", manifest(BundleMediaType, subject.String(), ""), errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers, err := ParseBundleManifest([]byte(tt.in), subject)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers = %v, err = %v", layers, err)
			}
		})
	}
}

func FuzzParseBundleManifest(f *testing.F) {
	subject := digest.FromString("subject")
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"` + BundleMediaType + `","layers":[{"mediaType":"` + BundleMediaType + `","digest":"` + subject.String() + `","size":1}],"subject":{"digest":"` + subject.String() + `","size":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		layers, err := ParseBundleManifest(b, subject)
		if err != nil {
			return
		}
		var m struct {
			Subject struct{ Digest digest.Digest } `json:"subject"`
		}
		if json.Unmarshal(b, &m) != nil || m.Subject.Digest != subject || len(layers) == 0 {
			t.Fatalf("accepted a manifest that does not refer to %s: %q", subject, b)
		}
	})
}
