package verify

import (
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

const (
	testIssuer  = "https://token.ci.example"
	testSubject = "https://ci.example/team/app/.ci/release.yml@refs/heads/main"
)

// virtualSigstore is a certificate authority, transparency log and
// timestamp authority in memory, with its trusted_root.json.
type virtualSigstore struct {
	vs   *ca.VirtualSigstore
	root []byte
}

func newVirtualSigstore(t *testing.T) *virtualSigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	// The virtual log keeps its ID as hex text; a trusted root holds the
	// raw bytes the log entries name.
	logs := map[string]*root.TransparencyLog{}
	for k, l := range vs.RekorLogs() {
		c := *l
		if c.ID, err = hex.DecodeString(k); err != nil {
			t.Fatal(err)
		}
		logs[k] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), nil,
		vs.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return &virtualSigstore{vs: vs, root: b}
}

// bundle signs an image signature statement for d as identity and returns
// the sigstore bundle v0.3 cosign v3 would store: certificate, log entry
// with inclusion proof, and a signed timestamp.
func (v *virtualSigstore) bundle(t *testing.T, subject, issuer string, statement cosignfmt.Statement) []byte {
	t.Helper()
	body, err := json.Marshal(statement)
	if err != nil {
		t.Fatal(err)
	}
	e, err := v.vs.AttestAtTime(subject, issuer, body, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	env := sc.(*sgbundle.Envelope).Envelope
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []*protodsse.Signature
	for _, s := range env.Signatures {
		raw, _ := base64.StdEncoding.DecodeString(s.Sig)
		sigs = append(sigs, &protodsse.Signature{Sig: raw, Keyid: s.KeyID})
	}
	entries, _ := e.TlogEntries()
	var tles []*protorekor.TransparencyLogEntry
	for _, en := range entries {
		tle := en.TransparencyLogEntry()
		var kv struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
		}
		if err := json.Unmarshal(tle.CanonicalizedBody, &kv); err != nil {
			t.Fatal(err)
		}
		tle.KindVersion = &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion}
		tles = append(tles, tle)
	}
	tss, _ := e.Timestamps()
	var rfc []*protocommon.RFC3161SignedTimestamp
	for _, ts := range tss {
		rfc = append(rfc, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	pb := &protobundle.Bundle{
		MediaType: cosignfmt.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries:               tles,
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: rfc},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: sigs,
		}},
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyKeyless(t *testing.T) {
	f := newFixture(t)
	vs := newVirtualSigstore(t)
	other := newVirtualSigstore(t) // a different, untrusted authority
	key := newKey(t)

	signed := f.subject("keyless")
	f.referBundle(signed, vs.bundle(t, testSubject, testIssuer, cosignfmt.NewSignStatement(signed.Digest)))

	untrustedCA := f.subject("untrusted-ca")
	f.referBundle(untrustedCA, other.bundle(t, testSubject, testIssuer, cosignfmt.NewSignStatement(untrustedCA.Digest)))

	replayed := f.subject("replayed")
	f.referBundle(replayed, vs.bundle(t, testSubject, testIssuer, cosignfmt.NewSignStatement(signed.Digest)))

	attestation := f.subject("attestation")
	st := cosignfmt.NewSignStatement(attestation.Digest)
	st.PredicateType = "https://slsa.dev/provenance/v1"
	f.referBundle(attestation, vs.bundle(t, testSubject, testIssuer, st))

	// A keyless signature and a key-based one on the same digest.
	both := f.subject("key-and-identity")
	f.referBundle(both, vs.bundle(t, testSubject, testIssuer, cosignfmt.NewSignStatement(both.Digest)))
	f.signBundle(both, key)

	exact := Identity{Issuer: testIssuer, Subject: testSubject}
	byRegexp := Identity{Issuer: testIssuer, SubjectRegexp: `https://ci\.example/team/app/.*@refs/heads/main`}
	stranger := Identity{Issuer: testIssuer, Subject: "https://ci.example/evil/app/.ci/release.yml@refs/heads/main"}
	prefixOnly := Identity{Issuer: testIssuer, SubjectRegexp: `https://ci\.example/team/app`}
	otherIssuer := Identity{Issuer: "https://other.example", Subject: testSubject}

	tests := []verdictCase{
		{name: "exact identity", subject: signed, policy: Policy{Identities: []Identity{exact}, TrustedRoot: vs.root}, wantSigners: []string{exact.String()}},
		{name: "regexp identity", subject: signed, policy: Policy{Identities: []Identity{byRegexp}, TrustedRoot: vs.root}, wantSigners: []string{byRegexp.String()}},
		{name: "one of two identities", subject: signed, policy: Policy{Identities: []Identity{stranger, exact}, TrustedRoot: vs.root}, wantSigners: []string{exact.String()}},
		{name: "other subject", subject: signed, policy: Policy{Identities: []Identity{stranger}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemOtherIdentity},
		{name: "regexp must match the whole subject", subject: signed, policy: Policy{Identities: []Identity{prefixOnly}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemOtherIdentity},
		{name: "other issuer", subject: signed, policy: Policy{Identities: []Identity{otherIssuer}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemOtherIdentity},
		{name: "untrusted authority", subject: untrustedCA, policy: Policy{Identities: []Identity{exact}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemKeylessInvalid},
		{name: "replayed from another digest", subject: replayed, policy: Policy{Identities: []Identity{exact}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: "1 for another digest"},
		{name: "attestation is not a signature", subject: attestation, policy: Policy{Identities: []Identity{exact}, TrustedRoot: vs.root}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemNotSignature},
		{name: "key policy ignores keyless", subject: signed, policy: Policy{Keys: []crypto.PublicKey{key.Public()}}, wantErr: errdef.ErrSignatureInvalid, wantInMsg: problemKeylessNoPolicy},
		{name: "key and identity, threshold 2", subject: both, policy: Policy{Threshold: 2, Keys: []crypto.PublicKey{key.Public()}, Identities: []Identity{exact}, TrustedRoot: vs.root},
			wantSigners: []string{cosignfmt.Fingerprint(key.Public()), exact.String()}},
		{name: "identity without trusted root", subject: signed, policy: Policy{Identities: []Identity{exact}}, wantErr: errdef.ErrPolicyViolation},
		{name: "bad trusted root", subject: signed, policy: Policy{Identities: []Identity{exact}, TrustedRoot: []byte("{}")}, wantErr: errdef.ErrPolicyViolation},
		{name: "identity without subject", subject: signed, policy: Policy{Identities: []Identity{{Issuer: testIssuer}}, TrustedRoot: vs.root}, wantErr: errdef.ErrPolicyViolation},
		{name: "audit: other identity", subject: signed, policy: Policy{Mode: Audit, Identities: []Identity{stranger}, TrustedRoot: vs.root}, wantInMsg: problemOtherIdentity},
	}
	for _, tt := range tests {
		tt.run(t, f.repo)
	}
}

func TestPolicyHashIdentities(t *testing.T) {
	a := Identity{Issuer: testIssuer, Subject: testSubject}
	b := Identity{Issuer: testIssuer, SubjectRegexp: ".*"}
	root1, root2 := []byte(`{"a":1}`), []byte(`{"a":2}`)
	base := Policy{Identities: []Identity{a, b}, TrustedRoot: root1}
	tests := []struct {
		name  string
		other Policy
		same  bool
	}{
		{"identical", Policy{Identities: []Identity{a, b}, TrustedRoot: root1}, true},
		{"order", Policy{Identities: []Identity{b, a}, TrustedRoot: root1}, true},
		{"duplicate", Policy{Identities: []Identity{a, b, a}, TrustedRoot: root1}, true},
		{"other trusted root", Policy{Identities: []Identity{a, b}, TrustedRoot: root2}, false},
		{"fewer identities", Policy{Identities: []Identity{a}, TrustedRoot: root1}, false},
		{"regexp vs exact", Policy{Identities: []Identity{a, {Issuer: testIssuer, Subject: ".*"}}, TrustedRoot: root1}, false},
		{"no identities", Policy{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (base.Hash() == tt.other.Hash()) != tt.same {
				t.Errorf("hash equal = %v, want %v", !tt.same, tt.same)
			}
		})
	}
	// A key-only policy hashes as before identities existed.
	if (Policy{}).Hash() != (Policy{Identities: nil, TrustedRoot: nil}).Hash() {
		t.Errorf("nil and empty identities differ")
	}
}
