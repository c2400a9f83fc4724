package cosignfmt

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Annotations cosign v2 adds to a legacy signature layer when it signs
// keyless (a Fulcio certificate, a Rekor entry, optionally a timestamp).
const (
	// CertificateAnnotation holds the PEM signing certificate.
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	// ChainAnnotation holds the PEM chain above the certificate (possibly
	// empty).
	ChainAnnotation = "dev.sigstore.cosign/chain"
	// RekorBundleAnnotation holds the transparency-log promise as JSON
	// (RekorBundle).
	RekorBundleAnnotation = "dev.sigstore.cosign/bundle"
	// RFC3161TimestampAnnotation holds a timestamp over the signature as
	// JSON: {"SignedRFC3161Timestamp": base64 DER TimeStampResp}.
	RFC3161TimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
)

// Legacy keyless caps. The annotations are part of a manifest already held
// to limits.MaxManifestBytes; these keep each piece to what it can be.
const (
	// maxKeylessAnnotationBytes caps each keyless annotation: a certificate,
	// a chain or a log entry is a few kilobytes.
	maxKeylessAnnotationBytes = limits.MaxSignaturePayloadBytes
	// maxChainCertificates caps the certificates in a chain annotation:
	// Fulcio's is an intermediate and a root.
	maxChainCertificates = 10
)

// LogEntryKind and LogEntryVersion name the only Rekor entry type cosign
// v2 writes for a keyless image signature, and the only one read here.
const (
	LogEntryKind    = "hashedrekord"
	LogEntryVersion = "0.0.1"
)

// bundleV01MediaType is the sigstore bundle version whose transparency-log
// entries may carry only an inclusion promise (a signed entry timestamp),
// which is all a legacy keyless signature has.
const bundleV01MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1"

// RekorBundle is the transparency-log promise cosign v2 stores in
// RekorBundleAnnotation: the log's signature (SignedEntryTimestamp) over
// the canonical JSON of Payload.
type RekorBundle struct {
	SignedEntryTimestamp []byte       `json:"SignedEntryTimestamp"`
	Payload              RekorPayload `json:"Payload"`
}

// RekorPayload is what a Rekor log signs for an entry.
type RekorPayload struct {
	// Body is the base64 canonicalized entry.
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	// LogID is the hex SHA-256 of the log's public key.
	LogID string `json:"logID"`
}

// rfc3161Timestamp is the JSON cosign stores in RFC3161TimestampAnnotation.
type rfc3161Timestamp struct {
	SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
}

// LegacyKeyless is the verification material cosign v2 attaches to a
// keyless legacy signature layer, parsed but not yet trusted.
type LegacyKeyless struct {
	// Certificate is the signing certificate.
	Certificate *x509.Certificate
	// Chain is what the signer claims lies above Certificate. It is never
	// trusted: chains are built from a trusted root.
	Chain []*x509.Certificate
	// Rekor is the transparency-log promise, nil when the layer has none.
	Rekor *RekorBundle
	// Timestamp is a DER RFC 3161 timestamp response over the signature,
	// nil when the layer has none.
	Timestamp []byte

	// body and logID are Rekor's payload body and log ID, decoded.
	body  []byte
	logID []byte
}

// HasCertificate reports whether a legacy signature layer carries a
// signing certificate, that is, was signed keyless.
func HasCertificate(layer ocispec.Descriptor) bool {
	return strings.TrimSpace(layer.Annotations[CertificateAnnotation]) != ""
}

// ParseLegacyKeyless reads the keyless verification material from the
// annotations of a legacy signature layer: exactly one PEM certificate, a
// chain of at most maxChainCertificates PEM certificates (or none), and,
// when present, the Rekor bundle and the RFC 3161 timestamp. Failures wrap
// errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
func ParseLegacyKeyless(annotations map[string]string) (LegacyKeyless, error) {
	var k LegacyKeyless
	for _, a := range []string{CertificateAnnotation, ChainAnnotation, RekorBundleAnnotation, RFC3161TimestampAnnotation} {
		if int64(len(annotations[a])) > maxKeylessAnnotationBytes {
			return k, fmt.Errorf("%w: annotation %s is %d bytes (max %d)",
				errdef.ErrSizeExceedsLimit, a, len(annotations[a]), maxKeylessAnnotationBytes)
		}
	}
	certs, err := ParseCertificates([]byte(annotations[CertificateAnnotation]), 1)
	if err != nil {
		return LegacyKeyless{}, fmt.Errorf("annotation %s: %w", CertificateAnnotation, err)
	}
	if len(certs) != 1 {
		return LegacyKeyless{}, fmt.Errorf("%w: annotation %s holds no certificate", errdef.ErrInvalidManifest, CertificateAnnotation)
	}
	k.Certificate = certs[0]
	if k.Chain, err = ParseCertificates([]byte(annotations[ChainAnnotation]), maxChainCertificates); err != nil {
		return LegacyKeyless{}, fmt.Errorf("annotation %s: %w", ChainAnnotation, err)
	}
	if raw, ok := annotations[RekorBundleAnnotation]; ok {
		rb, err := ParseRekorBundle([]byte(raw))
		if err != nil {
			return LegacyKeyless{}, fmt.Errorf("annotation %s: %w", RekorBundleAnnotation, err)
		}
		k.Rekor = &rb
		// Both were checked by ParseRekorBundle.
		k.body, _ = base64.StdEncoding.DecodeString(rb.Payload.Body)
		k.logID, _ = hex.DecodeString(rb.Payload.LogID)
	}
	if raw, ok := annotations[RFC3161TimestampAnnotation]; ok {
		var ts rfc3161Timestamp
		if err := json.Unmarshal([]byte(raw), &ts); err != nil {
			return LegacyKeyless{}, fmt.Errorf("%w: annotation %s: %v", errdef.ErrInvalidManifest, RFC3161TimestampAnnotation, err)
		}
		if len(ts.SignedRFC3161Timestamp) == 0 {
			return LegacyKeyless{}, fmt.Errorf("%w: annotation %s holds no timestamp", errdef.ErrInvalidManifest, RFC3161TimestampAnnotation)
		}
		k.Timestamp = ts.SignedRFC3161Timestamp
	}
	return k, nil
}

// ParseCertificates decodes PEM "CERTIFICATE" blocks, at most max of them,
// refusing any other block and any text around them but white space. An
// empty input gives no certificates and no error. Failures wrap
// errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
func ParseCertificates(b []byte, max int) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		// pem.Decode skips whatever precedes a block; nothing may.
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: text that is not a PEM block", errdef.ErrInvalidManifest)
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: malformed PEM block", errdef.ErrInvalidManifest)
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) > 0 {
			return nil, fmt.Errorf("%w: PEM block %q with %d headers, want CERTIFICATE without headers",
				errdef.ErrInvalidManifest, block.Type, len(block.Headers))
		}
		if len(certs) == max {
			return nil, fmt.Errorf("%w: more than %d certificates", errdef.ErrSizeExceedsLimit, max)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", errdef.ErrInvalidManifest, len(certs), err)
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(rest)
	}
	return certs, nil
}

// ParseRekorBundle decodes the JSON of RekorBundleAnnotation: a signed
// entry timestamp, a base64 body, a positive integrated time, a
// non-negative log index and a hex log ID. Failures wrap
// errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit. Nothing is
// verified here.
func ParseRekorBundle(b []byte) (RekorBundle, error) {
	var rb RekorBundle
	if int64(len(b)) > maxKeylessAnnotationBytes {
		return rb, fmt.Errorf("%w: Rekor bundle is %d bytes (max %d)", errdef.ErrSizeExceedsLimit, len(b), maxKeylessAnnotationBytes)
	}
	if err := json.Unmarshal(b, &rb); err != nil {
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle: %v", errdef.ErrInvalidManifest, err)
	}
	p := rb.Payload
	switch {
	case len(rb.SignedEntryTimestamp) == 0:
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle has no signed entry timestamp", errdef.ErrInvalidManifest)
	case p.IntegratedTime <= 0:
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle integrated time %d", errdef.ErrInvalidManifest, p.IntegratedTime)
	case p.LogIndex < 0:
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle log index %d", errdef.ErrInvalidManifest, p.LogIndex)
	}
	if body, err := base64.StdEncoding.DecodeString(p.Body); err != nil || len(body) == 0 {
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle body is not base64", errdef.ErrInvalidManifest)
	}
	if id, err := hex.DecodeString(p.LogID); err != nil || len(id) == 0 {
		return RekorBundle{}, fmt.Errorf("%w: Rekor bundle log ID %q is not hex", errdef.ErrInvalidManifest, p.LogID)
	}
	return rb, nil
}

// hashedRekord is the part of a hashedrekord v0.0.1 entry checked against
// the signature it is attached to.
type hashedRekord struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Data struct {
			Hash struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"value"`
			} `json:"hash"`
		} `json:"data"`
		Signature struct {
			Content   []byte `json:"content"`
			PublicKey struct {
				Content []byte `json:"content"`
			} `json:"publicKey"`
		} `json:"signature"`
	} `json:"spec"`
}

// CheckLogEntry checks that the Rekor entry is a hashedrekord v0.0.1 entry
// for exactly this signature: sig, over the SHA-256 of payload, by
// k.Certificate. It proves nothing about the log itself (the signed entry
// timestamp is verified against a trusted root elsewhere). An entry about
// something else wraps errdef.ErrLogEntryMismatch; a missing or malformed one
// errdef.ErrInvalidManifest.
func (k LegacyKeyless) CheckLogEntry(payload, sig []byte) error {
	if k.Rekor == nil {
		return fmt.Errorf("%w: no transparency-log entry", errdef.ErrInvalidManifest)
	}
	var e hashedRekord
	if err := json.Unmarshal(k.body, &e); err != nil {
		return fmt.Errorf("%w: transparency-log entry: %v", errdef.ErrInvalidManifest, err)
	}
	if e.Kind != LogEntryKind || e.APIVersion != LogEntryVersion {
		return fmt.Errorf("%w: transparency-log entry kind %q %q, want %s %s",
			errdef.ErrInvalidManifest, e.Kind, e.APIVersion, LogEntryKind, LogEntryVersion)
	}
	sum := sha256.Sum256(payload)
	if h := e.Spec.Data.Hash; h.Algorithm != "sha256" || h.Value != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%w: entry is for %q, the payload is sha256:%x", errdef.ErrLogEntryMismatch, h.Algorithm+":"+h.Value, sum)
	}
	if !bytes.Equal(e.Spec.Signature.Content, sig) {
		return fmt.Errorf("%w: entry holds another signature", errdef.ErrLogEntryMismatch)
	}
	certs, err := ParseCertificates(e.Spec.Signature.PublicKey.Content, 1)
	if err != nil || len(certs) != 1 || !certs[0].Equal(k.Certificate) {
		return fmt.Errorf("%w: entry names another certificate", errdef.ErrLogEntryMismatch)
	}
	return nil
}

// SigstoreBundle expresses the legacy signature sig over payload as a
// sigstore bundle v0.1, so it can be verified like any other bundle: the
// certificate as verification material, the signature as a message
// signature over payload's SHA-256, the Rekor entry as a transparency-log
// entry with its inclusion promise, and the timestamp, if any. The entry
// must first pass CheckLogEntry, whose errors are returned as they are.
func (k LegacyKeyless) SigstoreBundle(payload, sig []byte) (*protobundle.Bundle, error) {
	if k.Certificate == nil {
		return nil, fmt.Errorf("%w: keyless signature without a certificate", errdef.ErrInvalidManifest)
	}
	if err := k.CheckLogEntry(payload, sig); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{
			Certificate: &protocommon.X509Certificate{RawBytes: k.Certificate.Raw},
		},
		TlogEntries: []*protorekor.TransparencyLogEntry{{
			LogIndex:          k.Rekor.Payload.LogIndex,
			LogId:             &protocommon.LogId{KeyId: k.logID},
			KindVersion:       &protorekor.KindVersion{Kind: LogEntryKind, Version: LogEntryVersion},
			IntegratedTime:    k.Rekor.Payload.IntegratedTime,
			InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: k.Rekor.SignedEntryTimestamp},
			CanonicalizedBody: k.body,
		}},
	}
	if k.Timestamp != nil {
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: k.Timestamp}},
		}
	}
	return &protobundle.Bundle{
		MediaType:            bundleV01MediaType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}},
	}, nil
}
