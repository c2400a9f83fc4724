package cosignfmt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/sealift-dev/sealift/errdef"
)

// newCertPEM returns a self-signed certificate in PEM.
func newCertPEM(t testing.TB, cn string) []byte {
	t.Helper()
	c, _ := newCert(t, cn)
	return c
}

// newCert returns a self-signed certificate in PEM and its key.
func newCert(t testing.TB, cn string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), k
}

// keylessEntry is a hashedrekord v0.0.1 body as Rekor canonicalizes it.
func keylessEntry(kind, version, alg string, payload, sig, certPEM []byte) []byte {
	sum := sha256.Sum256(payload)
	b, _ := json.Marshal(map[string]any{
		"apiVersion": version,
		"kind":       kind,
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": alg, "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": certPEM}},
		},
	})
	return b
}

// rekorBundleJSON is the annotation cosign writes for an entry with body.
func rekorBundleJSON(body []byte) string {
	b, _ := json.Marshal(RekorBundle{
		SignedEntryTimestamp: []byte("set"),
		Payload: RekorPayload{
			Body:           base64.StdEncoding.EncodeToString(body),
			IntegratedTime: 1700000000,
			LogIndex:       12,
			LogID:          strings.Repeat("ab", 32),
		},
	})
	return string(b)
}

func TestParseLegacyKeyless(t *testing.T) {
	cert, chainA, chainB := newCertPEM(t, "leaf"), newCertPEM(t, "intermediate"), newCertPEM(t, "root")
	chain := string(chainA) + string(chainB)
	body := keylessEntry(LogEntryKind, LogEntryVersion, "sha256", []byte("payload"), []byte("sig"), cert)
	good := map[string]string{
		CertificateAnnotation:      string(cert),
		ChainAnnotation:            chain,
		RekorBundleAnnotation:      rekorBundleJSON(body),
		RFC3161TimestampAnnotation: `{"SignedRFC3161Timestamp":"MAA="}`,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		if v == "\x00delete" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	rb := func(edit func(*RekorBundle)) string {
		var b RekorBundle
		_ = json.Unmarshal([]byte(rekorBundleJSON(body)), &b)
		edit(&b)
		out, _ := json.Marshal(b)
		return string(out)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))

	tests := []struct {
		name    string
		in      map[string]string
		wantErr error
	}{
		{"complete", good, nil},
		{"no chain, no bundle, no timestamp", map[string]string{CertificateAnnotation: string(cert), ChainAnnotation: ""}, nil},
		{"no certificate", with(CertificateAnnotation, ""), errdef.ErrInvalidManifest},
		{"two certificates as the leaf", with(CertificateAnnotation, string(cert)+string(cert)), errdef.ErrSizeExceedsLimit},
		{"private key as the leaf", with(CertificateAnnotation, privPEM), errdef.ErrInvalidManifest},
		{"private key in the chain", with(ChainAnnotation, chain+privPEM), errdef.ErrInvalidManifest},
		{"text after the chain", with(ChainAnnotation, chain+"trailing"), errdef.ErrInvalidManifest},
		{"text before the certificate", with(CertificateAnnotation, "x"+string(cert)), errdef.ErrInvalidManifest},
		{"line of text before the certificate", with(CertificateAnnotation, "hello\n"+string(cert)), errdef.ErrInvalidManifest},
		{"line of text between chain certificates", with(ChainAnnotation, string(chainA)+"hello\n"+string(chainB)), errdef.ErrInvalidManifest},
		{"PEM headers", with(CertificateAnnotation, strings.Replace(string(cert), "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)), errdef.ErrInvalidManifest},
		{"unterminated PEM block", with(ChainAnnotation, chain+"-----BEGIN CERTIFICATE-----\nMAA=\n"), errdef.ErrInvalidManifest},
		{"certificate that does not parse", with(CertificateAnnotation, "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), errdef.ErrInvalidManifest},
		{"chain too long", with(ChainAnnotation, strings.Repeat(string(chainA), maxChainCertificates+1)), errdef.ErrSizeExceedsLimit},
		{"huge annotation", with(ChainAnnotation, strings.Repeat(" ", int(maxKeylessAnnotationBytes)+1)), errdef.ErrSizeExceedsLimit},
		{"bundle not JSON", with(RekorBundleAnnotation, "{"), errdef.ErrInvalidManifest},
		{"bundle body an object", with(RekorBundleAnnotation, `{"SignedEntryTimestamp":"AA==","Payload":{"body":{},"integratedTime":1,"logIndex":0,"logID":"00"}}`), errdef.ErrInvalidManifest},
		{"bundle body not base64", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.Payload.Body = "%%%" })), errdef.ErrInvalidManifest},
		{"bundle body empty", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.Payload.Body = "" })), errdef.ErrInvalidManifest},
		{"bundle log ID not hex", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.Payload.LogID = "xyz" })), errdef.ErrInvalidManifest},
		{"bundle negative log index", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.Payload.LogIndex = -1 })), errdef.ErrInvalidManifest},
		{"bundle without integrated time", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.Payload.IntegratedTime = 0 })), errdef.ErrInvalidManifest},
		{"bundle without SET", with(RekorBundleAnnotation, rb(func(b *RekorBundle) { b.SignedEntryTimestamp = nil })), errdef.ErrInvalidManifest},
		{"timestamp not JSON", with(RFC3161TimestampAnnotation, "MAA="), errdef.ErrInvalidManifest},
		{"timestamp empty", with(RFC3161TimestampAnnotation, `{}`), errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseLegacyKeyless(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Certificate == nil || k.Certificate.Subject.CommonName != "leaf" {
				t.Fatalf("certificate %v", k.Certificate)
			}
			_, hasBundle := tt.in[RekorBundleAnnotation]
			if (k.Rekor != nil) != hasBundle {
				t.Fatalf("Rekor bundle %v, annotation present %v", k.Rekor, hasBundle)
			}
			if hasBundle && (string(k.body) != string(body) || hex.EncodeToString(k.logID) != k.Rekor.Payload.LogID) {
				t.Fatalf("body or log ID not decoded: %q %x", k.body, k.logID)
			}
			if tt.in[ChainAnnotation] != "" && len(k.Chain) != 2 {
				t.Fatalf("chain of %d, want 2", len(k.Chain))
			}
		})
	}
}

func TestCheckLogEntry(t *testing.T) {
	cert, otherCert := newCertPEM(t, "leaf"), newCertPEM(t, "other")
	payload, sig := []byte(`{"critical":{}}`), []byte("signature bytes")
	parse := func(body []byte) LegacyKeyless {
		k, err := ParseLegacyKeyless(map[string]string{CertificateAnnotation: string(cert), RekorBundleAnnotation: rekorBundleJSON(body)})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tests := []struct {
		name    string
		body    []byte
		wantErr error
	}{
		{"matches", keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, sig, cert), nil},
		{"other payload", keylessEntry(LogEntryKind, LogEntryVersion, "sha256", []byte("other"), sig, cert), errdef.ErrLogEntryMismatch},
		{"other hash algorithm", keylessEntry(LogEntryKind, LogEntryVersion, "sha512", payload, sig, cert), errdef.ErrLogEntryMismatch},
		{"other signature", keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, []byte("other"), cert), errdef.ErrLogEntryMismatch},
		{"other certificate", keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, sig, otherCert), errdef.ErrLogEntryMismatch},
		{"no certificate", keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, sig, nil), errdef.ErrLogEntryMismatch},
		{"rekord entry", keylessEntry("rekord", LogEntryVersion, "sha256", payload, sig, cert), errdef.ErrInvalidManifest},
		{"other entry version", keylessEntry(LogEntryKind, "0.0.2", "sha256", payload, sig, cert), errdef.ErrInvalidManifest},
		{"body not JSON", []byte("not json"), errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := parse(tt.body)
			err := k.CheckLogEntry(payload, sig)
			_, bErr := k.SigstoreBundle(payload, sig)
			if tt.wantErr == nil {
				if err != nil || bErr != nil {
					t.Fatalf("CheckLogEntry: %v, SigstoreBundle: %v", err, bErr)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(bErr, tt.wantErr) {
				t.Fatalf("CheckLogEntry: %v, SigstoreBundle: %v; want %v", err, bErr, tt.wantErr)
			}
			if errors.Is(tt.wantErr, errdef.ErrLogEntryMismatch) && !errors.Is(err, errdef.ErrSignatureInvalid) {
				t.Fatalf("mismatch %v does not wrap %v", err, errdef.ErrSignatureInvalid)
			}
		})
	}
	t.Run("no Rekor bundle", func(t *testing.T) {
		k, err := ParseLegacyKeyless(map[string]string{CertificateAnnotation: string(cert)})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.CheckLogEntry(payload, sig); !errors.Is(err, errdef.ErrInvalidManifest) {
			t.Fatalf("err = %v, want %v", err, errdef.ErrInvalidManifest)
		}
	})
}

// TestSigstoreBundle checks the bundle a legacy signature becomes: valid
// for sigstore-go, with the certificate, the signature over the payload's
// digest and the log entry carried over unchanged.
func TestSigstoreBundle(t *testing.T) {
	cert, key := newCert(t, "leaf")
	payload := []byte(`{"critical":{}}`)
	// sigstore-go reads the entry with Rekor's types, which check the
	// signature.
	sig, err := Sign(key, payload)
	if err != nil {
		t.Fatal(err)
	}
	body := keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, sig, cert)
	k, err := ParseLegacyKeyless(map[string]string{
		CertificateAnnotation:      string(cert),
		RekorBundleAnnotation:      rekorBundleJSON(body),
		RFC3161TimestampAnnotation: `{"SignedRFC3161Timestamp":"MAA="}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := k.SigstoreBundle(payload, sig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		t.Fatalf("sigstore-go refuses the bundle: %v", err)
	}
	if v, _ := b.Version(); v != "v0.1" || !IsBundleMediaType(pb.MediaType) {
		t.Errorf("version %q, media type %q", v, pb.MediaType)
	}
	vc, err := b.VerificationContent()
	if err != nil || !vc.Certificate().Equal(k.Certificate) {
		t.Errorf("certificate not carried over: %v", err)
	}
	ms := pb.GetMessageSignature()
	sum := sha256.Sum256(payload)
	if ms == nil || string(ms.Signature) != string(sig) || ms.MessageDigest.Algorithm != protocommon.HashAlgorithm_SHA2_256 || string(ms.MessageDigest.Digest) != string(sum[:]) {
		t.Errorf("message signature %v", ms)
	}
	entries, err := b.TlogEntries()
	if err != nil || len(entries) != 1 || !b.HasInclusionPromise() {
		t.Fatalf("log entries %v, %v", entries, err)
	}
	tle := entries[0].TransparencyLogEntry()
	if string(tle.CanonicalizedBody) != string(body) || tle.IntegratedTime != 1700000000 || tle.LogIndex != 12 ||
		hex.EncodeToString(tle.LogId.KeyId) != strings.Repeat("ab", 32) || string(tle.InclusionPromise.SignedEntryTimestamp) != "set" {
		t.Errorf("log entry %v", tle)
	}
	if ts, _ := b.Timestamps(); len(ts) != 1 {
		t.Errorf("timestamps %v", ts)
	}
}

func FuzzParseLegacyKeyless(f *testing.F) {
	cert := newCertPEM(f, "leaf")
	chain := newCertPEM(f, "ca")
	payload, sig := []byte(`{"critical":{}}`), []byte("signature bytes")
	body := keylessEntry(LogEntryKind, LogEntryVersion, "sha256", payload, sig, cert)
	f.Add(string(cert), string(chain), rekorBundleJSON(body), `{"SignedRFC3161Timestamp":"MAA="}`)
	f.Add(string(cert), "", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`, "")
	f.Add(string(cert), string(chain)+string(chain), `{"Payload":{"body":null}}`, `{"SignedRFC3161Timestamp":null}`)
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "-----BEGIN X-----", "[]", "{}")
	f.Fuzz(func(t *testing.T, certPEM, chainPEM, bundle, timestamp string) {
		ann := map[string]string{CertificateAnnotation: certPEM, ChainAnnotation: chainPEM}
		if bundle != "" {
			ann[RekorBundleAnnotation] = bundle
		}
		if timestamp != "" {
			ann[RFC3161TimestampAnnotation] = timestamp
		}
		k, err := ParseLegacyKeyless(ann)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidManifest) && !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if k.Certificate == nil || len(k.Chain) > maxChainCertificates {
			t.Fatalf("accepted %d chain certificates, leaf %v", len(k.Chain), k.Certificate)
		}
		if (k.Rekor != nil) != (bundle != "") {
			t.Fatalf("bundle %q parsed as %v", bundle, k.Rekor)
		}
		if k.Rekor != nil && (len(k.body) == 0 || len(k.logID) == 0 || k.Rekor.Payload.IntegratedTime <= 0 || k.Rekor.Payload.LogIndex < 0) {
			t.Fatalf("accepted an incomplete Rekor bundle %+v", k.Rekor)
		}
		if timestamp != "" && len(k.Timestamp) == 0 {
			t.Fatalf("timestamp %q accepted as empty", timestamp)
		}
		// Whatever was accepted, building the bundle must not panic, and a
		// bundle is built only when the logged entry names this payload's
		// hash and carries this very signature (decoded here on its own).
		if _, err := k.SigstoreBundle(payload, sig); err == nil {
			var e struct {
				Spec struct {
					Data struct {
						Hash struct{ Algorithm, Value string }
					}
					Signature struct{ Content []byte }
				}
			}
			sum := sha256.Sum256(payload)
			if json.Unmarshal(k.body, &e) != nil || e.Spec.Data.Hash.Algorithm != "sha256" ||
				e.Spec.Data.Hash.Value != hex.EncodeToString(sum[:]) || !bytes.Equal(e.Spec.Signature.Content, sig) {
				t.Fatalf("bundle built for a log entry about something else: %s", k.body)
			}
		}
	})
}
