package verify

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// legacyKeyless is a keyless signature as cosign v2 stores it on the
// "sha256-<hex>.sig" tag: a simple-signing payload, its signature, the
// Fulcio certificate and chain, and the Rekor bundle in annotations.
type legacyKeyless struct {
	payload   []byte
	sig       []byte
	cert      []byte // PEM
	chain     []byte // PEM
	rekor     *cbundle.RekorBundle
	timestamp *cbundle.RFC3161Timestamp
	// signer is the certificate's key.
	signer crypto.Signer
	// extra annotations, set as they are (to write malformed ones).
	extra map[string]string
}

// certChainPEM returns the PEM of the authority's intermediates and root.
func (v *virtualSigstore) certChainPEM(t *testing.T) []byte {
	t.Helper()
	ca := v.vs.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
	pemChain, err := cryptoutils.MarshalCertificatesToPEM(append(append([]*x509.Certificate{}, ca.Intermediates...), ca.Root))
	if err != nil {
		t.Fatal(err)
	}
	return pemChain
}

// legacyKeyless signs, as subject from issuer, a simple-signing payload
// naming d in repository repo, and logs it: the hashedrekord entry for the
// signature is promised (SET) by the authority's log at integrated time.
func (v *virtualSigstore) legacyKeyless(t *testing.T, repo string, d digest.Digest, subject, issuer string) *legacyKeyless {
	t.Helper()
	payload, err := json.Marshal(cosignfmt.NewSimpleSigning(repo, d, nil))
	if err != nil {
		t.Fatal(err)
	}
	leaf, priv, err := v.vs.GenerateLeafCert(subject, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return v.legacyKeylessBy(t, payload, leaf, priv.(crypto.Signer), v.certChainPEM(t))
}

// legacyKeylessBy signs payload with signer, whose certificate is leaf
// under chainPEM, and logs it in the authority's log.
func (v *virtualSigstore) legacyKeylessBy(t *testing.T, payload []byte, leaf *x509.Certificate, signer crypto.Signer, chainPEM []byte) *legacyKeyless {
	t.Helper()
	sig, err := cosignfmt.Sign(signer, payload)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := cryptoutils.MarshalCertificateToPEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	l := &legacyKeyless{payload: payload, sig: sig, cert: certPEM, chain: chainPEM, signer: signer}
	l.rekor = v.promise(t, hashedRekordBody(t, payload, sig, certPEM), leaf.NotBefore.Add(time.Minute))
	return l
}

// promise returns the Rekor bundle the authority's log gives for an entry
// with body integrated at time at.
func (v *virtualSigstore) promise(t *testing.T, body []byte, at time.Time) *cbundle.RekorBundle {
	t.Helper()
	logID, err := v.vs.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	p := tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: at.Unix(), LogIndex: 4242, LogID: logID}
	set, err := v.vs.RekorSignPayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return &cbundle.RekorBundle{SignedEntryTimestamp: set, Payload: cbundle.RekorPayload{
		Body: p.Body, IntegratedTime: p.IntegratedTime, LogIndex: p.LogIndex, LogID: p.LogID,
	}}
}

// hashedRekordBody is the canonicalized hashedrekord v0.0.1 entry Rekor
// stores for sig over payload by the certificate certPEM.
func hashedRekordBody(t *testing.T, payload, sig, certPEM []byte) []byte {
	t.Helper()
	type hash struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	}
	type publicKey struct {
		Content []byte `json:"content"`
	}
	type signature struct {
		Content   []byte    `json:"content"`
		PublicKey publicKey `json:"publicKey"`
	}
	type data struct {
		Hash hash `json:"hash"`
	}
	type spec struct {
		Data      data      `json:"data"`
		Signature signature `json:"signature"`
	}
	sum := digest.FromBytes(payload)
	b, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       spec   `json:"spec"`
	}{"0.0.1", "hashedrekord", spec{
		Data:      data{Hash: hash{Algorithm: "sha256", Value: sum.Encoded()}},
		Signature: signature{Content: sig, PublicKey: publicKey{Content: certPEM}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attachLegacy writes signatures to subject's "sha256-<hex>.sig" tag with
// cosign's own code, next to those already there.
func (f *fixture) attachLegacy(subject ocispec.Descriptor, sigs ...*legacyKeyless) {
	f.t.Helper()
	ref, err := name.ParseReference(f.name+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		f.t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(ref)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, l := range sigs {
		ann := map[string]string{}
		for k, v := range l.extra {
			ann[k] = v
		}
		opts := []static.Option{static.WithAnnotations(ann), static.WithCertChain(l.cert, l.chain)}
		if l.rekor != nil {
			opts = append(opts, static.WithBundle(l.rekor))
		}
		if l.timestamp != nil {
			opts = append(opts, static.WithRFC3161Timestamp(l.timestamp))
		}
		sig, err := static.NewSignature(l.payload, base64.StdEncoding.EncodeToString(l.sig), opts...)
		if err != nil {
			f.t.Fatal(err)
		}
		if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := ociremote.WriteSignatures(ref.Context(), se); err != nil {
		f.t.Fatalf("cosign WriteSignatures: %v", err)
	}
}

func TestVerifyLegacyKeyless(t *testing.T) {
	f := newFixture(t)
	vs := newVirtualSigstore(t)
	other := newVirtualSigstore(t) // an authority and log the policy does not trust
	key := newKey(t)
	ctx := context.Background()

	signed := f.subject("keyless")
	f.attachLegacy(signed, vs.legacyKeyless(t, f.name, signed.Digest, testSubject, testIssuer))

	timestamped := f.subject("timestamped")
	ts := vs.legacyKeyless(t, f.name, timestamped.Digest, testSubject, testIssuer)
	tsr, err := vs.vs.TimestampResponse(ts.sig)
	if err != nil {
		t.Fatal(err)
	}
	ts.timestamp = &cbundle.RFC3161Timestamp{SignedRFC3161Timestamp: tsr}
	f.attachLegacy(timestamped, ts)

	// Signed for signed's digest, stored under another one.
	replayed := f.subject("replayed")
	f.attachLegacy(replayed, vs.legacyKeyless(t, f.name, signed.Digest, testSubject, testIssuer))

	tamperedSET := f.subject("tampered-set")
	l := vs.legacyKeyless(t, f.name, tamperedSET.Digest, testSubject, testIssuer)
	l.rekor.SignedEntryTimestamp[len(l.rekor.SignedEntryTimestamp)/2] ^= 0x01
	f.attachLegacy(tamperedSET, l)

	// A log entry, validly promised, for another signature by the same
	// certificate over the same payload: both signatures verify, but only
	// one was logged.
	otherSig := f.subject("entry-for-other-signature")
	l = vs.legacyKeyless(t, f.name, otherSig.Digest, testSubject, testIssuer)
	sig2, err := cosignfmt.Sign(l.signer, l.payload)
	if err != nil {
		t.Fatal(err)
	}
	l.rekor = vs.promise(t, hashedRekordBody(t, l.payload, sig2, l.cert), time.Now())
	f.attachLegacy(otherSig, l)

	otherPayload := f.subject("entry-for-other-payload")
	l = vs.legacyKeyless(t, f.name, otherPayload.Digest, testSubject, testIssuer)
	l.rekor = vs.promise(t, hashedRekordBody(t, []byte(string(l.payload)+" "), l.sig, l.cert), time.Now())
	f.attachLegacy(otherPayload, l)

	otherCert := f.subject("entry-for-other-certificate")
	l = vs.legacyKeyless(t, f.name, otherCert.Digest, testSubject, testIssuer)
	l.rekor = vs.promise(t, hashedRekordBody(t, l.payload, l.sig, vs.legacyKeyless(t, f.name, otherCert.Digest, testSubject, testIssuer).cert), time.Now())
	f.attachLegacy(otherCert, l)

	// A signature by another key, logged (the virtual log checks nothing)
	// with the certificate.
	otherKey := f.subject("signed-by-another-key")
	l = vs.legacyKeyless(t, f.name, otherKey.Digest, testSubject, testIssuer)
	if l.sig, err = cosignfmt.Sign(newKey(t), l.payload); err != nil {
		t.Fatal(err)
	}
	l.rekor = vs.promise(t, hashedRekordBody(t, l.payload, l.sig, l.cert), time.Now())
	f.attachLegacy(otherKey, l)

	// Certificate from the trusted authority, entry promised by a log the
	// trusted root does not list.
	untrustedLog := f.subject("untrusted-log")
	l = vs.legacyKeyless(t, f.name, untrustedLog.Digest, testSubject, testIssuer)
	l.rekor = other.promise(t, hashedRekordBody(t, l.payload, l.sig, l.cert), time.Now())
	f.attachLegacy(untrustedLog, l)

	untrustedCA := f.subject("untrusted-ca")
	l = other.legacyKeyless(t, f.name, untrustedCA.Digest, testSubject, testIssuer)
	l.rekor = vs.promise(t, hashedRekordBody(t, l.payload, l.sig, l.cert), time.Now())
	f.attachLegacy(untrustedCA, l)

	// Logged after the ten-minute certificate expired.
	expired := f.subject("logged-after-expiry")
	l = vs.legacyKeyless(t, f.name, expired.Digest, testSubject, testIssuer)
	l.rekor = vs.promise(t, hashedRekordBody(t, l.payload, l.sig, l.cert), time.Now().Add(30*time.Minute))
	f.attachLegacy(expired, l)

	unlogged := f.subject("unlogged")
	l = vs.legacyKeyless(t, f.name, unlogged.Digest, testSubject, testIssuer)
	l.rekor = nil
	f.attachLegacy(unlogged, l)

	badChain := f.subject("bad-chain")
	l = vs.legacyKeyless(t, f.name, badChain.Digest, testSubject, testIssuer)
	l.chain = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	f.attachLegacy(badChain, l)

	badBundle := f.subject("bad-bundle")
	l = vs.legacyKeyless(t, f.name, badBundle.Digest, testSubject, testIssuer)
	l.rekor = nil
	l.extra = map[string]string{cosignfmt.RekorBundleAnnotation: `{"SignedEntryTimestamp":"AA==","Payload":{"body":{"not":"a string"},"integratedTime":1,"logIndex":0,"logID":"00"}}`}
	f.attachLegacy(badBundle, l)

	// A keyless signature and a key-based one on the same digest.
	mixed := f.subject("mixed")
	f.attachLegacy(mixed, vs.legacyKeyless(t, f.name, mixed.Digest, testSubject, testIssuer))
	f.sign(mixed, key)

	// A root that lists CT logs requires an SCT in the certificate.
	withCT, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.vs.FulcioCertificateAuthorities(), vs.vs.CTLogs(),
		vs.vs.TimestampingAuthorities(), mustTrustedRoot(t, vs.root).RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	withCTJSON, err := withCT.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}

	exact := Identity{Issuer: testIssuer, Subject: testSubject}
	byRegexp := Identity{IssuerRegexp: `https://token\.ci\..*`, SubjectRegexp: `https://ci\.example/team/.*@refs/heads/main`}
	stranger := Identity{Issuer: testIssuer, Subject: "https://ci.example/evil/app/.ci/release.yml@refs/heads/main"}
	otherIssuer := Identity{Issuer: "https://other.example", Subject: testSubject}
	trusting := func(ids ...Identity) Policy { return Policy{Identities: ids, TrustedRoot: vs.root} }

	tests := []struct {
		name    string
		subject ocispec.Descriptor
		policy  Policy
		// wantSigners are the verdict's signers when it must hold.
		wantSigners []string
		// wantChecked are the problem (or, prefixed with "signer ", the
		// signer) of each signature found, in order.
		wantChecked []string
	}{
		{name: "exact identity", subject: signed, policy: trusting(exact),
			wantSigners: []string{exact.String()}, wantChecked: []string{"signer " + exact.String()}},
		{name: "regexp identity", subject: signed, policy: trusting(byRegexp),
			wantSigners: []string{byRegexp.String()}, wantChecked: []string{"signer " + byRegexp.String()}},
		{name: "second of two identities", subject: signed, policy: trusting(stranger, exact),
			wantSigners: []string{exact.String()}, wantChecked: []string{"signer " + exact.String()}},
		{name: "with a signed timestamp", subject: timestamped, policy: trusting(exact),
			wantSigners: []string{exact.String()}, wantChecked: []string{"signer " + exact.String()}},
		{name: "other subject", subject: signed, policy: trusting(stranger),
			wantChecked: []string{problemOtherIdentity + " (certificate for " + testSubject + " from " + testIssuer + ")"}},
		{name: "other issuer", subject: signed, policy: trusting(otherIssuer),
			wantChecked: []string{problemOtherIdentity}},
		{name: "key policy ignores keyless", subject: signed, policy: Policy{Keys: []crypto.PublicKey{key.Public()}},
			wantChecked: []string{problemKeylessNoPolicy}},
		{name: "payload names another digest", subject: replayed, policy: trusting(exact),
			wantChecked: []string{problemOtherDigest}},
		{name: "tampered signed entry timestamp", subject: tamperedSET, policy: trusting(exact),
			wantChecked: []string{problemKeylessInvalid + ": transparency-log promise: unable to verify SET"}},
		{name: "log entry for another signature", subject: otherSig, policy: trusting(exact),
			wantChecked: []string{problemLogEntryMismatch + ": entry holds another signature"}},
		{name: "log entry for another payload", subject: otherPayload, policy: trusting(exact),
			wantChecked: []string{problemLogEntryMismatch}},
		{name: "log entry for another certificate", subject: otherCert, policy: trusting(exact),
			wantChecked: []string{problemLogEntryMismatch}},
		{name: "signature not by the certificate's key", subject: otherKey, policy: trusting(exact),
			wantChecked: []string{problemKeylessInvalid}},
		{name: "log not in the trusted root", subject: untrustedLog, policy: trusting(exact),
			wantChecked: []string{problemKeylessInvalid + ": transparency-log promise: rekor log public key not found"}},
		{name: "certificate authority not in the trusted root", subject: untrustedCA, policy: trusting(exact),
			wantChecked: []string{problemKeylessInvalid + ": failed to verify leaf certificate"}},
		{name: "logged after the certificate expired", subject: expired, policy: trusting(exact),
			wantChecked: []string{problemKeylessInvalid}},
		{name: "no transparency-log bundle", subject: unlogged, policy: trusting(exact),
			wantChecked: []string{problemNoLogEntry}},
		{name: "malformed chain", subject: badChain, policy: trusting(exact),
			wantChecked: []string{problemBadKeyless + ": annotation " + cosignfmt.ChainAnnotation}},
		{name: "malformed Rekor bundle", subject: badBundle, policy: trusting(exact),
			wantChecked: []string{problemBadKeyless + ": annotation " + cosignfmt.RekorBundleAnnotation}},
		{name: "trusted root with CT logs needs an SCT", subject: signed, policy: Policy{Identities: []Identity{exact}, TrustedRoot: withCTJSON},
			wantChecked: []string{problemKeylessInvalid + ": failed to verify signed certificate timestamp"}},
		{name: "key and identity, threshold 2", subject: mixed,
			policy:      Policy{Threshold: 2, Keys: []crypto.PublicKey{key.Public()}, Identities: []Identity{exact}, TrustedRoot: vs.root},
			wantSigners: []string{cosignfmt.Fingerprint(key.Public()), exact.String()},
			wantChecked: []string{"signer " + exact.String(), "signer " + cosignfmt.Fingerprint(key.Public())}},
		{name: "key and stranger, threshold 2", subject: mixed,
			policy:      Policy{Threshold: 2, Keys: []crypto.PublicKey{key.Public()}, Identities: []Identity{stranger}, TrustedRoot: vs.root},
			wantChecked: []string{problemOtherIdentity, "signer " + cosignfmt.Fingerprint(key.Public())}},
		{name: "key and identity, threshold 1, key only", subject: mixed,
			policy:      Policy{Keys: []crypto.PublicKey{key.Public()}},
			wantSigners: []string{cosignfmt.Fingerprint(key.Public())},
			wantChecked: []string{problemKeylessNoPolicy, "signer " + cosignfmt.Fingerprint(key.Public())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Verify(ctx, f.repo, tt.subject, tt.policy)
			if tt.wantSigners != nil {
				if err != nil || !v.Verified {
					t.Fatalf("Verify: %+v, %v", v, err)
				}
				if strings.Join(v.Signers, ",") != strings.Join(tt.wantSigners, ",") {
					t.Errorf("signers %v, want %v", v.Signers, tt.wantSigners)
				}
			} else {
				var verr *VerificationError
				if v.Verified || !errors.As(err, &verr) || !errors.Is(err, errdef.ErrSignatureInvalid) || !errdef.IsTerminal(err) {
					t.Fatalf("verdict %+v, err %v; want a terminal %v", v, err, errdef.ErrSignatureInvalid)
				}
			}
			if len(v.Checked) != len(tt.wantChecked) {
				t.Fatalf("checked %+v, want %d signatures", v.Checked, len(tt.wantChecked))
			}
			for i, want := range tt.wantChecked {
				c := v.Checked[i]
				if c.Format != formatLegacy || c.Source != "tag "+cosignfmt.LegacySignatureTag(tt.subject.Digest) {
					t.Errorf("checked[%d] = %+v, want a legacy signature from the .sig tag", i, c)
				}
				if signer, ok := strings.CutPrefix(want, "signer "); ok {
					if c.Signer != signer || c.Problem != "" {
						t.Errorf("checked[%d] = %+v, want signer %q", i, c, signer)
					}
					continue
				}
				if c.Signer != "" || !strings.HasPrefix(c.Problem, want) {
					t.Errorf("checked[%d] problem %q, want it to start with %q", i, c.Problem, want)
				}
				if !v.Verified && !strings.Contains(v.Reason, want) {
					t.Errorf("reason %q does not say %q", v.Reason, want)
				}
			}
		})
	}
}

// TestLegacyKeylessFixtureAcceptedByCosign checks the fixture against
// cosign's own verifier, so the format the tests above feed to Verify is
// the one cosign reads.
func TestLegacyKeylessFixtureAcceptedByCosign(t *testing.T) {
	f := newFixture(t)
	vs := newVirtualSigstore(t)
	subject := f.subject("v1")
	f.attachLegacy(subject, vs.legacyKeyless(t, f.name, subject.Digest, testSubject, testIssuer))

	ref, err := name.ParseReference(f.name+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		identity cosign.Identity
		wantOK   bool
	}{
		{"signing identity", cosign.Identity{Issuer: testIssuer, Subject: testSubject}, true},
		{"other identity", cosign.Identity{Issuer: testIssuer, Subject: "someone@example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs, _, err := cosign.VerifyImageSignatures(context.Background(), ref, &cosign.CheckOpts{
				TrustedMaterial: mustTrustedRoot(t, vs.root),
				Identities:      []cosign.Identity{tt.identity},
				IgnoreSCT:       true,
				ClaimVerifier:   cosign.SimpleClaimVerifier,
			})
			if tt.wantOK != (err == nil) {
				t.Fatalf("cosign: %d signatures, err %v; want ok %v", len(sigs), err, tt.wantOK)
			}
			v, verr := Verify(context.Background(), f.repo, subject, Policy{
				Identities:  []Identity{{Issuer: tt.identity.Issuer, Subject: tt.identity.Subject}},
				TrustedRoot: vs.root,
			})
			if v.Verified != tt.wantOK {
				t.Fatalf("cosign and Verify disagree: cosign ok %v, verdict %+v, %v", tt.wantOK, v, verr)
			}
		})
	}
}

// TestVerifyLegacyKeylessRegistryFailureIsNotTerminal checks that a
// registry failing while a keyless signature's payload is read is reported
// as worth retrying, and that the retry succeeds.
func TestVerifyLegacyKeylessRegistryFailureIsNotTerminal(t *testing.T) {
	var payloadPath atomic.Pointer[string]
	faults := registrytest.NewFaults(func(r *http.Request) bool {
		p := payloadPath.Load()
		return p != nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, *p)
	})
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: faults.Wrap})
	repo, err := remote.NewRepository(reg.Repo("team/app"))
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	// No retries inside the client: the caller decides.
	repo.Client = &auth.Client{Client: &http.Client{}}
	f := &fixture{t: t, repo: repo, name: reg.Repo("team/app")}
	vs := newVirtualSigstore(t)
	subject := f.subject("v1")
	l := vs.legacyKeyless(t, f.name, subject.Digest, testSubject, testIssuer)
	f.attachLegacy(subject, l)

	path := "/blobs/" + digest.FromBytes(l.payload).String()
	payloadPath.Store(&path)
	faults.Inject(registrytest.Fault{Status: http.StatusServiceUnavailable})
	policy := Policy{Identities: []Identity{{Issuer: testIssuer, Subject: testSubject}}, TrustedRoot: vs.root}

	v, err := Verify(context.Background(), repo, subject, policy)
	var verr *VerificationError
	if v.Verified || !errors.As(err, &verr) || errdef.IsTerminal(err) {
		t.Fatalf("verdict %+v, err %v; want a *VerificationError worth retrying", v, err)
	}
	if faults.Pending() != 0 {
		t.Fatalf("the payload was never fetched")
	}
	if v, err := Verify(context.Background(), repo, subject, policy); err != nil || !v.Verified {
		t.Fatalf("retry: %+v, %v", v, err)
	}
}

func mustTrustedRoot(t *testing.T, b []byte) *root.TrustedRoot {
	t.Helper()
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
