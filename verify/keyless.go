package verify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

// Identity is a keyless signer: who the short-lived certificate in a
// signature was issued to. Issuer and Subject each match exactly, or, when
// the Regexp form is set instead, by a Go regular expression that must
// match the whole value. The optional claims match exactly when set.
type Identity struct {
	// Issuer is the OIDC issuer, e.g. the CI provider's token issuer.
	Issuer       string `json:"issuer,omitempty"`
	IssuerRegexp string `json:"issuerRegexp,omitempty"`
	// Subject is the certificate's subject alternative name: an e-mail
	// address or a workflow URI.
	Subject       string `json:"subject,omitempty"`
	SubjectRegexp string `json:"subjectRegexp,omitempty"`
	// SourceRepository is the source repository URI claim.
	SourceRepository string `json:"sourceRepository,omitempty"`
	// WorkflowRef is the CI workflow ref claim (e.g. refs/heads/main).
	WorkflowRef string `json:"workflowRef,omitempty"`
}

// String names the identity for verdicts and messages.
func (id Identity) String() string {
	issuer, subject := id.Issuer, id.Subject
	if issuer == "" {
		issuer = "~" + id.IssuerRegexp
	}
	if subject == "" {
		subject = "~" + id.SubjectRegexp
	}
	s := "identity " + subject + " from " + issuer
	if id.SourceRepository != "" {
		s += " repo " + id.SourceRepository
	}
	if id.WorkflowRef != "" {
		s += " ref " + id.WorkflowRef
	}
	return s
}

// key is the canonical form of the identity for Policy.Hash.
func (id Identity) key() string {
	return strings.Join([]string{id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp, id.SourceRepository, id.WorkflowRef}, "\x00")
}

// anchored makes a pattern match whole values, as cosign's --*-regexp
// flags are commonly (mis)read to.
func anchored(re string) string {
	if re == "" {
		return ""
	}
	return "^(?:" + re + ")$"
}

// compile checks the identity and turns it into sigstore's matcher.
func (id Identity) compile() (sgverify.CertificateIdentity, error) {
	if (id.Issuer == "") == (id.IssuerRegexp == "") {
		return sgverify.CertificateIdentity{}, fmt.Errorf("set exactly one of issuer and issuerRegexp")
	}
	if (id.Subject == "") == (id.SubjectRegexp == "") {
		return sgverify.CertificateIdentity{}, fmt.Errorf("set exactly one of subject and subjectRegexp")
	}
	for _, re := range []string{id.IssuerRegexp, id.SubjectRegexp} {
		if _, err := regexp.Compile(re); err != nil {
			return sgverify.CertificateIdentity{}, fmt.Errorf("regexp %q: %v", re, err)
		}
	}
	san, err := sgverify.NewSANMatcher(id.Subject, anchored(id.SubjectRegexp))
	if err != nil {
		return sgverify.CertificateIdentity{}, err
	}
	iss, err := sgverify.NewIssuerMatcher(id.Issuer, anchored(id.IssuerRegexp))
	if err != nil {
		return sgverify.CertificateIdentity{}, err
	}
	return sgverify.NewCertificateIdentity(san, iss, certificate.Extensions{
		SourceRepositoryURI: id.SourceRepository,
		GithubWorkflowRef:   id.WorkflowRef,
	})
}

// policyIdentity is a checked identity.
type policyIdentity struct {
	name    string
	matcher sgverify.CertificateIdentity
}

// keylessVerifier checks certificate-based bundles against a pinned
// trusted root, offline.
type keylessVerifier struct {
	v *sgverify.Verifier
	// logs are the trusted root's transparency logs, by hex log ID.
	logs map[string]*root.TransparencyLog
}

// newKeylessVerifier parses trustedRoot (the trusted_root.json format)
// and sets up the checks: a certificate chaining to one of its
// certificate authorities, a transparency-log entry (inclusion proof, or
// signed entry timestamp for old bundles) from one of its logs, an
// observed time inside the certificate's validity, and an embedded SCT
// from one of its CT logs when it lists any.
func newKeylessVerifier(trustedRoot []byte) (*keylessVerifier, error) {
	tr, err := root.NewTrustedRootFromJSON(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid policy: trusted root: %v", errdef.ErrPolicyViolation, err)
	}
	opts := []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1)}
	if len(tr.CTLogs()) > 0 {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	v, err := sgverify.NewVerifier(tr, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid policy: trusted root: %v", errdef.ErrPolicyViolation, err)
	}
	return &keylessVerifier{v: v, logs: tr.RekorLogs()}, nil
}

// verify checks raw, a bundle whose verification material is a
// certificate, against the identities and returns the index of the first
// that signed want, or a problem.
func (k *keylessVerifier) verify(raw []byte, parsed cosignfmt.Bundle, want digest.Digest, ids []policyIdentity) (int, string) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return -1, problemBadBundle
	}
	sum, err := hex.DecodeString(want.Encoded())
	if err != nil || want.Algorithm() != digest.SHA256 {
		return -1, problemOtherDigest
	}
	if parsed.DSSEEnvelope != nil {
		st, err := cosignfmt.ParseStatement(parsed.DSSEEnvelope.Payload)
		if err != nil {
			return -1, problemBadBundle
		}
		if st.PredicateType != cosignfmt.SignPredicateType {
			return -1, problemNotSignature
		}
		if !st.Names(want) {
			return -1, problemOtherDigest
		}
	}
	return k.check(&b, sgverify.WithArtifactDigest("sha256", sum), ids)
}

// verifyLegacy checks a legacy keyless signature: sig over payload (a
// simple-signing document already checked to name the digest being
// verified) with the certificate and Rekor bundle from the layer's
// annotations. It is turned into a sigstore bundle and judged by check,
// like any keyless bundle.
func (k *keylessVerifier) verifyLegacy(material cosignfmt.LegacyKeyless, payload, sig []byte, ids []policyIdentity) (int, string) {
	if material.Rekor == nil {
		return -1, problemNoLogEntry
	}
	pb, err := material.SigstoreBundle(payload, sig)
	switch {
	case errors.Is(err, errdef.ErrLogEntryMismatch):
		detail := strings.TrimPrefix(err.Error(), errdef.ErrLogEntryMismatch.Error()+": ")
		return -1, problemLogEntryMismatch + ": " + trimString(detail)
	case err != nil:
		return -1, problemBadKeyless + ": " + trimError(err)
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		// The parts were well formed; reading the log entry with Rekor's
		// types also checks its signature with its certificate.
		return -1, problemKeylessInvalid + ": " + trimError(err)
	}
	// check verifies the promise too, but only says that no log entry
	// held up; saying why is worth a second look.
	entries, err := b.TlogEntries()
	if err != nil || len(entries) != 1 {
		return -1, problemBadKeyless + ": transparency-log entry unreadable"
	}
	if err := tlog.VerifySET(entries[0], k.logs); err != nil {
		return -1, problemKeylessInvalid + ": transparency-log promise: " + trimError(err)
	}
	return k.check(b, sgverify.WithArtifact(bytes.NewReader(payload)), ids)
}

// check runs sigstore-go's verification of b against the trusted root
// (certificate chain at an observed time, transparency-log entry, SCT when
// required, signature over artifact) and then matches the certificate
// against each identity in turn. It returns the index of the first
// identity that matches, or a problem naming what failed or whom the
// certificate was issued to.
func (k *keylessVerifier) check(b *bundle.Bundle, artifact sgverify.ArtifactPolicyOption, ids []policyIdentity) (int, string) {
	res, err := k.v.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return -1, problemKeylessInvalid + ": " + trimError(err)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return -1, problemKeylessInvalid + ": no certificate"
	}
	cert := *res.Signature.Certificate
	for i, id := range ids {
		if id.matcher.Verify(cert) == nil {
			return i, ""
		}
	}
	return -1, fmt.Sprintf("%s (certificate for %s from %s)", problemOtherIdentity,
		trimString(cert.SubjectAlternativeName), trimString(cert.Extensions.Issuer))
}

// trimError keeps verdict reasons short.
func trimError(err error) string {
	return trimString(err.Error())
}

// trimString cuts s, which may come from a signature, to a length fit
// for a verdict reason, and replaces control characters (newlines, terminal
// escapes) so a signature cannot forge lines of output or status.
func trimString(s string) string {
	const maxLen = 200
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
