package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	ctx509util "github.com/google/certificate-transparency-go/x509util"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

// ctAuthority is a Fulcio-like certificate authority whose leaf
// certificates carry an SCT from its CT log, as Fulcio's do.
type ctAuthority struct {
	root, intermediate *x509.Certificate
	intermediateKey    crypto.Signer
	ctKey              *ecdsa.PrivateKey
}

func newCTAuthority(t *testing.T) *ctAuthority {
	t.Helper()
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	ctKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ctAuthority{root: rootCert, intermediate: inter, intermediateKey: interKey, ctKey: ctKey}
}

// ctLog describes a CT log with key pub for a trusted root.
func ctLog(t *testing.T, pub crypto.PublicKey) (string, *root.TransparencyLog) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return hex.EncodeToString(id[:]), &root.TransparencyLog{
		BaseURL: "https://ct.example", ID: id[:], HashFunc: crypto.SHA256, SignatureHashFunc: crypto.SHA256,
		PublicKey: pub, ValidityPeriodStart: time.Now().Add(-time.Hour),
	}
}

// trustedRoot returns a trusted_root.json listing the authority, the CT
// log with key ctPub, and vs's log and timestamp authority.
func (a *ctAuthority) trustedRoot(t *testing.T, vs *virtualSigstore, ctPub crypto.PublicKey) []byte {
	t.Helper()
	id, l := ctLog(t, ctPub)
	fulcio := &root.FulcioCertificateAuthority{
		Root: a.root, Intermediates: []*x509.Certificate{a.intermediate}, URI: "https://fulcio.example",
		ValidityPeriodStart: time.Now().Add(-time.Hour),
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio},
		map[string]*root.TransparencyLog{id: l}, vs.vs.TimestampingAuthorities(), mustTrustedRoot(t, vs.root).RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leaf issues a ten-minute certificate for subject from issuer with an
// embedded SCT from the authority's CT log, and returns it with its key.
func (a *ctAuthority) leaf(t *testing.T, subject, issuer string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(time.Now().UnixNano()),
		EmailAddresses: []string{subject},
		NotBefore:      now,
		NotAfter:       now.Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{{
			Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(issuer),
		}},
	}
	// The SCT signs the certificate without its SCT list.
	pre := a.issue(t, tmpl, &key.PublicKey)
	logID := sha256.Sum256(mustPKIX(t, &a.ctKey.PublicKey))
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: logID}, Timestamp: uint64(now.UnixMilli())}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: ct.MerkleTreeLeaf{
		Version: ct.V1, LeafType: ct.TimestampedEntryLeafType,
		TimestampedEntry: &ct.TimestampedEntry{
			Timestamp: sct.Timestamp, EntryType: ct.PrecertLogEntryType,
			PrecertEntry: &ct.PreCert{
				IssuerKeyHash:  sha256.Sum256(a.intermediate.RawSubjectPublicKeyInfo),
				TBSCertificate: pre.RawTBSCertificate,
			},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, a.ctKey, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sct.Signature = ct.DigitallySigned{Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA}, Signature: sig}
	list, err := ctx509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{&sct})
	if err != nil {
		t.Fatal(err)
	}
	listBytes, err := cttls.Marshal(*list)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := asn1.Marshal(listBytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: ext})
	return a.issue(t, tmpl, &key.PublicKey), key
}

func (a *ctAuthority) issue(t *testing.T, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.intermediate, pub, a.intermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustPKIX(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerifyLegacyKeylessSCT checks legacy keyless signatures under a
// trusted root that lists a CT log, as the public one does: the embedded
// SCT must be from that log.
func TestVerifyLegacyKeylessSCT(t *testing.T) {
	f := newFixture(t)
	vs := newVirtualSigstore(t)
	auth := newCTAuthority(t)
	otherCT, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := cryptoutils.MarshalCertificatesToPEM([]*x509.Certificate{auth.intermediate, auth.root})
	if err != nil {
		t.Fatal(err)
	}

	subject := f.subject("with-sct")
	payload, err := json.Marshal(cosignfmt.NewSimpleSigning(f.name, subject.Digest, nil))
	if err != nil {
		t.Fatal(err)
	}
	leaf, key := auth.leaf(t, testSubject, testIssuer)
	f.attachLegacy(subject, vs.legacyKeylessBy(t, payload, leaf, key, chain))

	exact := Identity{Issuer: testIssuer, Subject: testSubject}
	tests := []struct {
		name        string
		root        []byte
		wantProblem string
	}{
		{"SCT from the trusted CT log", auth.trustedRoot(t, vs, &auth.ctKey.PublicKey), ""},
		{"SCT from a CT log the root does not list", auth.trustedRoot(t, vs, &otherCT.PublicKey),
			problemKeylessInvalid + ": failed to verify signed certificate timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Verify(context.Background(), f.repo, subject, Policy{Identities: []Identity{exact}, TrustedRoot: tt.root})
			if len(v.Checked) != 1 {
				t.Fatalf("checked %+v, want one signature", v.Checked)
			}
			if tt.wantProblem == "" {
				if err != nil || !v.Verified || v.Checked[0].Signer != exact.String() {
					t.Fatalf("Verify: %+v, %v", v, err)
				}
				return
			}
			if err == nil || v.Verified || !strings.HasPrefix(v.Checked[0].Problem, tt.wantProblem) {
				t.Fatalf("verdict %+v, err %v; want problem %q", v, err, tt.wantProblem)
			}
		})
	}
}
