package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

// Verdict is the outcome of checking one digest against a policy.
type Verdict struct {
	// Digest is the manifest digest the verdict is about.
	Digest string `json:"digest"`
	// Verified is true when the policy's threshold of distinct keys signed
	// Digest. In Audit mode a failed check gives false and no error.
	Verified bool `json:"verified"`
	// Signers are the fingerprints of the policy keys, then the names of
	// the policy identities, with a valid signature over Digest, in policy
	// order.
	Signers []string `json:"signers"`
	// Reason says in words why the verdict is what it is.
	Reason string `json:"reason"`
	// Checked lists every signature considered, in discovery order, with
	// who made it or why it did not count. It is empty when none was found.
	Checked []SignatureCheck `json:"checked,omitempty"`
}

// SignatureCheck is the outcome for one signature found for the digest.
type SignatureCheck struct {
	// Source says where it was found: "tag sha256-<hex>.sig" or
	// "referrer sha256:<digest of the referrer manifest>".
	Source string `json:"source"`
	// Format is "legacy" (simple-signing payload) or "bundle" (sigstore
	// bundle).
	Format string `json:"format"`
	// Signer is the fingerprint of the policy key, or the name of the policy
	// identity, that made it, when one did.
	Signer string `json:"signer,omitempty"`
	// Problem says why it does not count, when it does not.
	Problem string `json:"problem,omitempty"`
}

// VerificationError is returned when a digest cannot be verified. It
// unwraps to the cause: errdef.ErrNoSignature, errdef.ErrSignatureInvalid,
// errdef.ErrPolicyViolation, or a registry error worth retrying.
type VerificationError struct {
	Digest string
	Err    error
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("verify %s: %v", e.Digest, e.Err)
}

func (e *VerificationError) Unwrap() error { return e.Err }

// Verify checks that subject, a manifest in the repository src, carries
// signatures satisfying p. It returns the verdict and, in Enforce mode, a
// *VerificationError when the policy does not hold. In Audit mode an unmet
// policy gives a verdict with Verified false and a nil error; an invalid
// policy or a registry failure is an error in both modes.
func Verify(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor, p Policy) (Verdict, error) {
	v := Verdict{Digest: subject.Digest.String(), Signers: []string{}}
	fail := func(err error) (Verdict, error) {
		return v, &VerificationError{Digest: v.Digest, Err: err}
	}
	pol, err := p.normalize()
	if err != nil {
		v.Reason = err.Error()
		return fail(err)
	}
	if err := subject.Digest.Validate(); err != nil {
		v.Reason = "invalid digest"
		return fail(fmt.Errorf("%w: digest %q: %v", errdef.ErrInvalidReference, subject.Digest, err))
	}

	sigs, err := Discover(ctx, src, subject)
	if err != nil {
		v.Reason = err.Error()
		return fail(err)
	}
	cands := sigs.candidates()
	if len(cands) == 0 {
		err := fmt.Errorf("%w: no signatures found (looked in: %s)", errdef.ErrNoSignature, strings.Join(sigs.Looked, ", "))
		v.Reason = err.Error()
		if pol.mode == Audit {
			return v, nil
		}
		return fail(err)
	}

	results, err := checkAll(ctx, src, subject.Digest, cands, pol)
	if err != nil {
		v.Reason = err.Error()
		return fail(err)
	}
	var tally tally
	signed := make([]bool, pol.signers())
	for i, c := range cands {
		k, problem := results[i].key, results[i].problem
		if !results[i].done {
			// checkAll fills every slot or fails; an unwritten one must
			// never read as a valid signature by the first key.
			problem = problemNotChecked
		}
		check := SignatureCheck{Source: c.origin, Format: c.format, Problem: problem}
		if problem != "" {
			v.Checked = append(v.Checked, check)
			tally.add(problem)
			continue
		}
		check.Signer = pol.signerName(k)
		v.Checked = append(v.Checked, check)
		tally.valid++
		signed[k] = true
	}
	for i, ok := range signed {
		if ok {
			v.Signers = append(v.Signers, pol.signerName(i))
		}
	}
	if len(v.Signers) >= pol.threshold {
		v.Verified = true
		v.Reason = fmt.Sprintf("signed by %d of the %d required keys (%d signatures found, %d valid)",
			len(v.Signers), pol.threshold, len(cands), tally.valid)
		return v, nil
	}
	err = fmt.Errorf("%w: %d signatures found, %d valid from %d distinct keys, %d required%s",
		errdef.ErrSignatureInvalid, len(cands), tally.valid, len(v.Signers), pol.threshold, tally.String())
	if tally.repository {
		// Valid signatures were made for another repository: the policy's
		// binding refused them, which is a policy violation as well.
		err = fmt.Errorf("%w: %w", errdef.ErrPolicyViolation, err)
	}
	v.Reason = err.Error()
	if pol.mode == Audit {
		return v, nil
	}
	return fail(err)
}

// checkConcurrency bounds the candidates checked at once: each check reads
// a payload or bundle from the registry, so checking them together hides
// round trips, while a digest with many signatures does not open a
// connection for each.
const checkConcurrency = 8

// checked is the outcome of checkCandidate for one candidate. The zero
// value is a slot not written yet, and counts for nothing.
type checked struct {
	// done is set when the candidate was checked; key and problem mean
	// nothing without it.
	done    bool
	key     int
	problem string
}

// checkAll checks every candidate, checkConcurrency at a time, and returns
// the outcomes in the candidates' order, every slot written. The first
// failure worth retrying (the registry could not be read) stops it: checks
// in flight are cancelled, none is started after, and that failure is
// returned.
func checkAll(ctx context.Context, src oras.ReadOnlyTarget, want digest.Digest, cands []candidate, pol normalized) ([]checked, error) {
	results := make([]checked, len(cands))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(checkConcurrency)
	for i, c := range cands {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() (err error) {
			defer func() {
				// Verification libraries assume parts of what they read
				// are well formed; hostile input must cost a verdict,
				// never the process.
				if r := recover(); r != nil {
					results[i] = checked{done: true, key: -1, problem: problemCheckPanicked + ": " + trimString(fmt.Sprint(r))}
					err = nil
				}
			}()
			k, problem, err := checkCandidate(gctx, src, want, c, pol)
			if err != nil {
				return err
			}
			results[i] = checked{done: true, key: k, problem: problem}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Cancelled from outside before every check ran.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range results {
		if !r.done {
			return nil, fmt.Errorf("candidate %s was not checked", cands[i].origin)
		}
	}
	return results, nil
}

// Reasons a candidate does not count.
const (
	problemOtherKey     = "not signed by any policy key"
	problemOtherDigest  = "for another digest"
	problemBadPayload   = "malformed payload"
	problemUnreadable   = "payload unreadable"
	problemNoSignature  = "missing or malformed signature annotation"
	problemUnknownMedia = "unsupported media type"
	problemBadManifest  = "malformed referrer manifest"
	problemBadBundle    = "malformed bundle"
	problemNotSignature = "not an image signature"
	// Keyless signatures.
	problemKeylessNoPolicy = "keyless, but the policy trusts no identities"
	problemOtherIdentity   = "signed by an identity the policy does not trust"
	problemKeylessInvalid  = "keyless signature invalid"
	problemCheckPanicked   = "signature check failed on malformed input"
	problemNotChecked      = "not checked"
	// Repository binding (Policy.Repositories).
	problemOtherRepository = "signed for a repository the policy does not bind"
	problemNoRepository    = "names no repository, and the policy binds repositories"
	// Keyless signatures in the legacy format.
	problemBadKeyless       = "malformed keyless signature annotations"
	problemNoLogEntry       = "keyless, but without a transparency-log bundle"
	problemLogEntryMismatch = "transparency-log entry is not for this signature"
)

// tally counts why candidates failed, in a stable order for messages.
type tally struct {
	valid  int
	order  []string
	counts map[string]int
	// repository is set when a signature was refused by the policy's
	// repository binding.
	repository bool
}

func (t *tally) add(problem string) {
	if problem == problemNoRepository || strings.HasPrefix(problem, problemOtherRepository) {
		t.repository = true
	}
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	if t.counts[problem] == 0 {
		t.order = append(t.order, problem)
	}
	t.counts[problem]++
}

func (t *tally) String() string {
	if len(t.order) == 0 {
		return ""
	}
	parts := make([]string, 0, len(t.order))
	for _, p := range t.order {
		parts = append(parts, fmt.Sprintf("%d %s", t.counts[p], p))
	}
	return ": " + strings.Join(parts, ", ")
}

// checkCandidate decides whether c is a valid signature over want by one of
// the policy's keys or identities. It returns the signer's index (keys
// first, then identities, as normalized.signerName counts them), or a
// problem saying why c does not count; err is set only for failures worth
// retrying (the registry could not be read). A legacy signature no policy
// key verifies is checked as keyless when its layer carries a certificate.
func checkCandidate(ctx context.Context, src oras.ReadOnlyTarget, want digest.Digest, c candidate, pol normalized) (key int, problem string, err error) {
	if c.problem != "" {
		return -1, c.problem, nil
	}
	if c.format == formatBundle {
		return checkBundle(ctx, src, want, c, pol)
	}
	keys := pol.keys
	if c.layer.MediaType != cosignfmt.SimpleSigningMediaType {
		return -1, problemUnknownMedia, nil
	}
	sig, err := cosignfmt.DecodeSignature(c.layer)
	if err != nil {
		return -1, problemNoSignature, nil
	}
	payload, err := cosignfmt.FetchPayload(ctx, src, c.layer)
	if err != nil {
		if isContentError(err) {
			return -1, problemUnreadable, nil
		}
		return -1, "", fmt.Errorf("%s: %w", c.origin, err)
	}
	doc, err := checkPayload(payload, want)
	if err != nil {
		if errors.Is(err, errdef.ErrDigestMismatch) {
			return -1, problemOtherDigest, nil
		}
		return -1, problemBadPayload, nil
	}
	claims := []string{doc.Critical.Identity.DockerReference}
	for i, k := range keys {
		if cosignfmt.VerifySignature(k.pub, payload, sig) == nil {
			if problem := pol.repositoryProblem(claims); problem != "" {
				return -1, problem, nil
			}
			return i, "", nil
		}
	}
	if !cosignfmt.HasCertificate(c.layer) {
		return -1, problemOtherKey, nil
	}
	// Keyless: a certificate and a log entry in the annotations say who
	// signed.
	if pol.keyless == nil {
		return -1, problemKeylessNoPolicy, nil
	}
	material, err := cosignfmt.ParseLegacyKeyless(c.layer.Annotations)
	if err != nil {
		return -1, problemBadKeyless + ": " + trimError(err), nil
	}
	i, problem := pol.keyless.verifyLegacy(material, payload, sig, pol.identities)
	if problem != "" {
		return -1, problem, nil
	}
	if problem := pol.repositoryProblem(claims); problem != "" {
		return -1, problem, nil
	}
	return len(pol.keys) + i, "", nil
}

// checkBundle decides whether the sigstore bundle c is a valid signature
// over want by one of keys, like checkCandidate.
func checkBundle(ctx context.Context, src oras.ReadOnlyTarget, want digest.Digest, c candidate, pol normalized) (key int, problem string, err error) {
	raw, err := cosignfmt.FetchPayload(ctx, src, c.layer)
	if err != nil {
		if isContentError(err) {
			return -1, problemUnreadable, nil
		}
		return -1, "", fmt.Errorf("%s: %w", c.origin, err)
	}
	b, err := cosignfmt.ParseBundle(raw)
	if err != nil {
		return -1, problemBadBundle, nil
	}
	if b.VerificationMaterial.PublicKey == nil {
		// Keyless: a certificate says who signed.
		if pol.keyless == nil {
			return -1, problemKeylessNoPolicy, nil
		}
		i, problem := pol.keyless.verify(raw, b, want, pol.identities)
		if problem != "" {
			return -1, problem, nil
		}
		if problem := pol.repositoryProblem(bundleClaims(b, want)); problem != "" {
			return -1, problem, nil
		}
		return len(pol.keys) + i, "", nil
	}
	problem = problemOtherKey
	for i, k := range pol.keys {
		err := b.VerifyKey(k.pub, want)
		switch {
		case err == nil:
			if problem := pol.repositoryProblem(bundleClaims(b, want)); problem != "" {
				return -1, problem, nil
			}
			return i, "", nil
		case errors.Is(err, errdef.ErrDigestMismatch):
			return -1, problemOtherDigest, nil
		case errors.Is(err, cosignfmt.ErrNotImageSignature):
			return -1, problemNotSignature, nil
		case errors.Is(err, errdef.ErrInvalidManifest):
			problem = problemBadBundle
		}
	}
	return -1, problem, nil
}

// checkPayload parses a simple-signing payload and checks that it names
// exactly want. A payload for another digest wraps errdef.ErrDigestMismatch;
// a malformed one errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
func checkPayload(payload []byte, want digest.Digest) (cosignfmt.SimpleSigning, error) {
	doc, err := cosignfmt.ParseSimpleSigning(payload)
	if err != nil {
		return doc, err
	}
	if doc.Digest() != want {
		return doc, fmt.Errorf("%w: signature payload names %s, not %s", errdef.ErrDigestMismatch, doc.Digest(), want)
	}
	return doc, nil
}

// bundleClaims returns the repositories a verified bundle claims for want:
// the names of its in-toto statement's subjects whose digest is want. A
// message signature, or a statement whose subjects carry no name, claims
// none.
func bundleClaims(b cosignfmt.Bundle, want digest.Digest) []string {
	if b.DSSEEnvelope == nil {
		return nil
	}
	st, err := cosignfmt.ParseStatement(b.DSSEEnvelope.Payload)
	if err != nil {
		return nil
	}
	var claims []string
	for _, sub := range st.Subject {
		if sub.Name != "" && sub.Digest[want.Algorithm().String()] == want.Encoded() {
			claims = append(claims, sub.Name)
		}
	}
	return claims
}

// repositoryProblem says why a valid signature that claims the
// repositories in claims does not count under the policy's binding, or ""
// when it counts (always, when the policy binds none).
func (n normalized) repositoryProblem(claims []string) string {
	if len(n.repositories) == 0 {
		return ""
	}
	var named []string
	for _, c := range claims {
		if c == "" {
			continue
		}
		if n.repositories[normalizeRepository(c)] {
			return ""
		}
		named = append(named, c)
	}
	if len(named) == 0 {
		return problemNoRepository
	}
	return problemOtherRepository + " (" + trimString(strings.Join(named, ", ")) + ")"
}
