package cosignfmt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 for P-384 and P-521 keys
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

const (
	// BundleMediaType is the media type of a sigstore bundle v0.3, used both
	// for the bundle layer and as the artifact type of the referrer manifest
	// that carries it.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// InTotoStatementType is the _type of an in-toto v1 statement.
	InTotoStatementType = "https://in-toto.io/Statement/v1"
	// SignPredicateType is the predicate type cosign gives the statement
	// it signs for an image signature (as opposed to an attestation).
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// BundleContentAnnotation and BundlePredicateTypeAnnotation annotate the
	// referrer manifest, as cosign writes them. They are hints for listing
	// tools; verification never relies on them.
	BundleContentAnnotation       = "dev.sigstore.bundle.content"
	BundlePredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
)

// ErrNotImageSignature is returned for a validly signed statement that is
// not an image signature (an attestation with another predicate type). It
// wraps errdef.ErrInvalidManifest.
var ErrNotImageSignature = fmt.Errorf("%w: not an image signature", errdef.ErrInvalidManifest)

// legacyBundleMediaTypes are the older names of sigstore bundle versions,
// read but never written.
var legacyBundleMediaTypes = []string{
	"application/vnd.dev.sigstore.bundle+json;version=0.1",
	"application/vnd.dev.sigstore.bundle+json;version=0.2",
	"application/vnd.dev.sigstore.bundle.v0.2+json",
	"application/vnd.dev.sigstore.bundle+json;version=0.3",
}

// IsBundleMediaType reports whether mt names a sigstore bundle version
// this package reads.
func IsBundleMediaType(mt string) bool {
	if mt == BundleMediaType {
		return true
	}
	for _, l := range legacyBundleMediaTypes {
		if mt == l {
			return true
		}
	}
	return false
}

// Bundle is the part of a sigstore bundle (the protobuf-specs JSON form)
// sealift reads and writes. Unknown fields are ignored when reading.
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	MessageSignature     *MessageSignature    `json:"messageSignature,omitempty"`
	DSSEEnvelope         *Envelope            `json:"dsseEnvelope,omitempty"`
}

// VerificationMaterial says what verifies the bundle's signature: a public
// key named by a hint, or a certificate (with transparency-log entries and
// timestamps, kept raw for a keyless verifier).
type VerificationMaterial struct {
	PublicKey                 *PublicKeyIdentifier `json:"publicKey,omitempty"`
	Certificate               *RawCertificate      `json:"certificate,omitempty"`
	X509CertificateChain      *CertificateChain    `json:"x509CertificateChain,omitempty"`
	TlogEntries               []json.RawMessage    `json:"tlogEntries,omitempty"`
	TimestampVerificationData json.RawMessage      `json:"timestampVerificationData,omitempty"`
}

// PublicKeyIdentifier names the signing key; cosign writes the base64
// SHA-256 of its PKIX DER encoding. It is a hint, not trusted.
type PublicKeyIdentifier struct {
	Hint string `json:"hint,omitempty"`
}

// RawCertificate is a DER certificate.
type RawCertificate struct {
	RawBytes []byte `json:"rawBytes"`
}

// CertificateChain is a leaf-first chain (bundle v0.1 and v0.2).
type CertificateChain struct {
	Certificates []RawCertificate `json:"certificates"`
}

// MessageSignature is a signature over the digest of an artifact.
type MessageSignature struct {
	MessageDigest *MessageDigest `json:"messageDigest,omitempty"`
	Signature     []byte         `json:"signature"`
}

// MessageDigest is the digest a MessageSignature signs.
type MessageDigest struct {
	Algorithm string `json:"algorithm"`
	Digest    []byte `json:"digest"`
}

// Envelope is a DSSE envelope.
type Envelope struct {
	Payload     []byte              `json:"payload"`
	PayloadType string              `json:"payloadType"`
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature in a DSSE envelope.
type EnvelopeSignature struct {
	Sig   []byte `json:"sig"`
	KeyID string `json:"keyid,omitempty"`
}

// Statement is the part of an in-toto statement sealift reads.
type Statement struct {
	Type          string             `json:"_type"`
	Subject       []StatementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     json.RawMessage    `json:"predicate,omitempty"`
}

// StatementSubject names one signed artifact by its digests
// (algorithm to lowercase hex).
type StatementSubject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// maxStatementSubjects caps the subjects read from one statement: a
// signature names one artifact; a few hundred would be a hostile bundle.
const maxStatementSubjects = 1000

// PAE is the DSSE pre-authentication encoding of payload with payloadType:
// what a DSSE signature actually signs.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// KeyHint is the hint cosign writes for pub in a bundle: the base64
// SHA-256 of its PKIX DER encoding.
func KeyHint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// NewSignStatement returns the in-toto statement cosign signs for an image
// signature over manifest d.
func NewSignStatement(d digest.Digest) Statement {
	return Statement{
		Type:          InTotoStatementType,
		Subject:       []StatementSubject{{Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}},
		PredicateType: SignPredicateType,
		Predicate:     json.RawMessage("{}"),
	}
}

// NewKeyBundle signs an image signature statement for manifest d with
// signer and returns the sigstore bundle v0.3 (a DSSE envelope, the key
// named by its hint, no transparency-log entry) as cosign writes it for
// key-based signing without a transparency log.
func NewKeyBundle(signer crypto.Signer, d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: digest %q: %v", errdef.ErrInvalidReference, d, err)
	}
	statement, err := json.Marshal(NewSignStatement(d))
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	sig, err := signBundleData(signer, PAE(InTotoPayloadType, statement))
	if err != nil {
		return nil, err
	}
	b := Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: VerificationMaterial{PublicKey: &PublicKeyIdentifier{Hint: KeyHint(signer.Public())}},
		DSSEEnvelope: &Envelope{
			Payload:     statement,
			PayloadType: InTotoPayloadType,
			Signatures:  []EnvelopeSignature{{Sig: sig}},
		},
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return out, nil
}

// ParseBundle decodes a sigstore bundle read from a registry: at most
// limits.MaxSignaturePayloadBytes, a known bundle media type, exactly one
// of a message signature or a DSSE envelope with at least one signature,
// and at most one of a public key hint, a certificate or a chain. Failures
// wrap errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
func ParseBundle(b []byte) (Bundle, error) {
	var bu Bundle
	if int64(len(b)) > limits.MaxSignaturePayloadBytes {
		return bu, fmt.Errorf("%w: bundle is %d bytes, more than %d",
			errdef.ErrSizeExceedsLimit, len(b), limits.MaxSignaturePayloadBytes)
	}
	if err := json.Unmarshal(b, &bu); err != nil {
		return Bundle{}, fmt.Errorf("%w: bundle is not valid JSON: %v", errdef.ErrInvalidManifest, err)
	}
	if !IsBundleMediaType(bu.MediaType) {
		return Bundle{}, fmt.Errorf("%w: bundle media type %q is not supported", errdef.ErrInvalidManifest, bu.MediaType)
	}
	switch {
	case bu.MessageSignature != nil && bu.DSSEEnvelope != nil:
		return Bundle{}, fmt.Errorf("%w: bundle has both a message signature and a DSSE envelope", errdef.ErrInvalidManifest)
	case bu.MessageSignature != nil:
		if len(bu.MessageSignature.Signature) == 0 {
			return Bundle{}, fmt.Errorf("%w: bundle message signature is empty", errdef.ErrInvalidManifest)
		}
	case bu.DSSEEnvelope != nil:
		if len(bu.DSSEEnvelope.Signatures) == 0 {
			return Bundle{}, fmt.Errorf("%w: bundle DSSE envelope has no signature", errdef.ErrInvalidManifest)
		}
		if len(bu.DSSEEnvelope.Signatures) > limits.MaxSignatures {
			return Bundle{}, fmt.Errorf("%w: bundle DSSE envelope has %d signatures (max %d)",
				errdef.ErrSizeExceedsLimit, len(bu.DSSEEnvelope.Signatures), limits.MaxSignatures)
		}
	default:
		return Bundle{}, fmt.Errorf("%w: bundle has no content", errdef.ErrInvalidManifest)
	}
	vm := bu.VerificationMaterial
	n := 0
	for _, set := range []bool{vm.PublicKey != nil, vm.Certificate != nil, vm.X509CertificateChain != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Bundle{}, fmt.Errorf("%w: bundle verification material must hold exactly one of a public key, a certificate or a chain", errdef.ErrInvalidManifest)
	}
	return bu, nil
}

// VerifyKey checks the bundle's signature with pub and that it signs
// manifest want. A DSSE envelope must hold an in-toto statement of type
// SignPredicateType with a subject whose digest is want; a message
// signature must sign exactly want's digest. A signature that does not
// verify wraps errdef.ErrSignatureInvalid; one over another digest
// errdef.ErrDigestMismatch; anything else malformed
// errdef.ErrInvalidManifest. The verification material is not used: the
// key is the caller's.
func (b Bundle) VerifyKey(pub crypto.PublicKey, want digest.Digest) error {
	switch {
	case b.DSSEEnvelope != nil:
		env := b.DSSEEnvelope
		if env.PayloadType != InTotoPayloadType {
			return fmt.Errorf("%w: DSSE payload type %q, want %q", errdef.ErrInvalidManifest, env.PayloadType, InTotoPayloadType)
		}
		pae := PAE(env.PayloadType, env.Payload)
		verified := false
		for _, s := range env.Signatures {
			if verifyBundleData(pub, pae, s.Sig) == nil {
				verified = true
				break
			}
		}
		if !verified {
			return fmt.Errorf("%w: DSSE signature does not verify with key %s", errdef.ErrSignatureInvalid, Fingerprint(pub))
		}
		st, err := ParseStatement(env.Payload)
		if err != nil {
			return err
		}
		if st.PredicateType != SignPredicateType {
			return fmt.Errorf("%w: statement predicate type %q, want %q",
				ErrNotImageSignature, st.PredicateType, SignPredicateType)
		}
		if !st.Names(want) {
			return fmt.Errorf("%w: statement does not name %s", errdef.ErrDigestMismatch, want)
		}
		return nil
	case b.MessageSignature != nil:
		ms := b.MessageSignature
		if ms.MessageDigest == nil {
			return fmt.Errorf("%w: message signature without a digest", errdef.ErrInvalidManifest)
		}
		if ms.MessageDigest.Algorithm != "SHA2_256" || want.Algorithm() != digest.SHA256 {
			return fmt.Errorf("%w: message digest algorithm %q is not supported", errdef.ErrInvalidManifest, ms.MessageDigest.Algorithm)
		}
		if hex.EncodeToString(ms.MessageDigest.Digest) != want.Encoded() {
			return fmt.Errorf("%w: message signature is over sha256:%x, not %s", errdef.ErrDigestMismatch, ms.MessageDigest.Digest, want)
		}
		if err := verifyDigest(pub, ms.MessageDigest.Digest, ms.Signature); err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("%w: bundle has no content", errdef.ErrInvalidManifest)
}

// bundleHash is the hash sigstore pairs with a key in bundles: SHA-384 for
// P-384 and SHA-512 for P-521 keys, SHA-256 otherwise (Ed25519 signs the
// message itself).
func bundleHash(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve.Params().BitSize {
		case 384:
			return crypto.SHA384
		case 521:
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

// signBundleData signs data as sigstore does for the key's type.
func signBundleData(signer crypto.Signer, data []byte) ([]byte, error) {
	h := bundleHash(signer.Public())
	if h == crypto.SHA256 {
		return Sign(signer, data)
	}
	hh := h.New()
	hh.Write(data)
	sig, err := signer.Sign(rand.Reader, hh.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("sign payload: %w", err)
	}
	return sig, nil
}

// verifyBundleData checks sig over data as sigstore does for the key's type.
func verifyBundleData(pub crypto.PublicKey, data, sig []byte) error {
	h := bundleHash(pub)
	if h == crypto.SHA256 {
		return VerifySignature(pub, data, sig)
	}
	hh := h.New()
	hh.Write(data)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), hh.Sum(nil), sig) {
		return fmt.Errorf("%w: signature does not verify with key %s", errdef.ErrSignatureInvalid, Fingerprint(pub))
	}
	return nil
}

// verifyDigest checks sig over a SHA-256 digest; Ed25519 cannot sign a
// prehashed message in this scheme.
func verifyDigest(pub crypto.PublicKey, sum, sig []byte) error {
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, sum, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, sum, sig) == nil
	case ed25519.PublicKey:
		return fmt.Errorf("%w: Ed25519 message signatures are not supported", errdef.ErrSignatureInvalid)
	default:
		return fmt.Errorf("%w: unsupported key type %T", errdef.ErrInvalidKey, pub)
	}
	if !ok {
		return fmt.Errorf("%w: message signature does not verify with key %s", errdef.ErrSignatureInvalid, Fingerprint(pub))
	}
	return nil
}

// ParseStatement decodes an in-toto statement (v1, or v0.1 as older
// signers wrote) with at least one subject and at most
// maxStatementSubjects. Failures wrap errdef.ErrInvalidManifest.
func ParseStatement(b []byte) (Statement, error) {
	var st Statement
	if err := json.Unmarshal(b, &st); err != nil {
		return Statement{}, fmt.Errorf("%w: statement is not valid JSON: %v", errdef.ErrInvalidManifest, err)
	}
	if st.Type != InTotoStatementType && st.Type != "https://in-toto.io/Statement/v0.1" {
		return Statement{}, fmt.Errorf("%w: statement type %q", errdef.ErrInvalidManifest, st.Type)
	}
	if len(st.Subject) == 0 || len(st.Subject) > maxStatementSubjects {
		return Statement{}, fmt.Errorf("%w: statement has %d subjects (want 1 to %d)", errdef.ErrInvalidManifest, len(st.Subject), maxStatementSubjects)
	}
	return st, nil
}

// Names reports whether one of the statement's subjects has digest d.
func (s Statement) Names(d digest.Digest) bool {
	for _, sub := range s.Subject {
		if v, ok := sub.Digest[d.Algorithm().String()]; ok && v == d.Encoded() {
			return true
		}
	}
	return false
}
