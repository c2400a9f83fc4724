package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Signature formats a candidate can be in.
const (
	formatLegacy = "legacy"
	formatBundle = "bundle"
)

// Signatures are what one place holds for a digest, as Discover found them,
// before any signature is checked. Verify checks them; package mirror
// copies them. Both read them through Discover, so the two never disagree
// about what a digest's signatures are or which referrers do not hold up.
type Signatures struct {
	// Subject is the digest they were looked up for.
	Subject digest.Digest
	// LegacyManifest is the manifest under the legacy signature tag
	// "sha256-<hex>.sig", nil when there is none.
	LegacyManifest *ocispec.Descriptor
	// Legacy are its layers: one simple-signing payload each, the
	// signature (and, keyless, the certificate) in its annotations.
	Legacy []ocispec.Descriptor
	// Referrers are the signature bundle referrer manifests listed for
	// the digest, in listing order, each read and checked.
	Referrers []Referrer
	// Looked names the places looked in, for messages.
	Looked []string
}

// Referrer is one listed signature bundle referrer manifest.
type Referrer struct {
	// Manifest is the referrer manifest, as the listing described it.
	Manifest ocispec.Descriptor
	// Bundles are its sigstore bundle layers; empty when Problem is set.
	Bundles []ocispec.Descriptor
	// Problem, when set, says why the manifest cannot hold a signature for
	// the digest (in the words of SignatureCheck.Problem): it is
	// malformed, oversized or missing, or names another subject. Verify
	// counts it as one signature that does not count; mirror leaves it
	// behind.
	Problem string
}

// Valid reports whether r holds signature bundles for the digest.
func (r Referrer) Valid() bool { return r.Problem == "" }

// count is how many candidates s holds for limits.MaxSignatures: every
// legacy layer, every bundle and every referrer that does not hold up.
func (s Signatures) count() int {
	n := len(s.Legacy)
	for _, r := range s.Referrers {
		if r.Valid() {
			n += len(r.Bundles)
		} else {
			n++
		}
	}
	return n
}

// candidates turns s into what checkAll judges: the referrers' bundles
// (or a referrer's problem) in listing order, then the legacy layers.
func (s Signatures) candidates() []candidate {
	out := make([]candidate, 0, s.count())
	for _, r := range s.Referrers {
		origin := "referrer " + r.Manifest.Digest.String()
		if !r.Valid() {
			out = append(out, candidate{origin: origin, format: formatBundle, layer: r.Manifest, problem: r.Problem})
			continue
		}
		for _, l := range r.Bundles {
			out = append(out, candidate{origin: origin, format: formatBundle, layer: l})
		}
	}
	origin := "tag " + cosignfmt.LegacySignatureTag(s.Subject)
	for _, l := range s.Legacy {
		out = append(out, candidate{origin: origin, format: formatLegacy, layer: l})
	}
	return out
}

// candidate is one signature found for a subject, before any check.
type candidate struct {
	// origin says where it was found, for messages.
	origin string
	// format is formatLegacy or formatBundle.
	format string
	// layer is the descriptor of the signed payload (legacy: its
	// annotations carry the signature) or of the bundle.
	layer ocispec.Descriptor
	// problem, when set, says why the candidate cannot count, found
	// while discovering it (a referrer manifest that is malformed or
	// refers to another digest).
	problem string
}

// Discover finds the signatures src holds for subject: the sigstore bundle
// referrers (the referrers API, or the referrers tag fallback on registries
// without it; each listed manifest is fetched and must name subject), and
// the legacy signature tag. The two are read at once. More than
// limits.MaxSignatures in all is refused as hostile (errdef.ErrSignatureInvalid
// and errdef.ErrSizeExceedsLimit), as is a malformed listing or legacy
// signature manifest; a referrer manifest that does not hold up is kept
// with its Problem. Failures to reach src are returned unwrapped by any
// sentinel, so callers can retry them.
func Discover(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) (Signatures, error) {
	s := Signatures{Subject: subject.Digest}
	// The places are independent reads: ask them at once, so a remote
	// registry costs one round trip of latency rather than one per place.
	var (
		g      errgroup.Group
		refs   []Referrer
		legacy *ocispec.Descriptor
		layers []ocispec.Descriptor
	)
	g.Go(func() (err error) {
		refs, err = discoverReferrers(ctx, src, subject)
		return err
	})
	g.Go(func() (err error) {
		legacy, layers, err = discoverLegacy(ctx, src, subject)
		return err
	})
	if err := g.Wait(); err != nil {
		return s, err
	}
	s.Referrers, s.LegacyManifest, s.Legacy = refs, legacy, layers
	s.Looked = []string{"referrers", "legacy signature tag"}
	if s.count() > limits.MaxSignatures {
		return s, fmt.Errorf("%w: %w: more than %d signatures stored for the digest",
			errdef.ErrSignatureInvalid, errdef.ErrSizeExceedsLimit, limits.MaxSignatures)
	}
	return s, nil
}

// discoverReferrers lists the bundle referrers of subject and reads each
// referrer manifest, which must itself name subject: the listing is only a
// claim. A manifest that does not hold up is kept with its problem.
func discoverReferrers(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]Referrer, error) {
	list, err := cosignfmt.ListBundleReferrers(ctx, src, subject)
	if err != nil {
		if isContentError(err) {
			return nil, fmt.Errorf("%w: referrers of %s: %w", errdef.ErrSignatureInvalid, subject.Digest, err)
		}
		return nil, fmt.Errorf("referrers of %s: %w", subject.Digest, err)
	}
	var out []Referrer
	n := 0
	for _, m := range list {
		r := Referrer{Manifest: m}
		r.Bundles, err = cosignfmt.FetchBundleManifest(ctx, src, m, subject.Digest)
		switch {
		case errors.Is(err, errdef.ErrDigestMismatch):
			r.Bundles, r.Problem = nil, problemOtherDigest
		case err != nil && isContentError(err):
			r.Bundles, r.Problem = nil, problemBadManifest
		case err != nil:
			return nil, fmt.Errorf("referrer %s: %w", m.Digest, err)
		}
		out = append(out, r)
		n += max(len(r.Bundles), 1)
		if n > limits.MaxSignatures {
			break // Discover refuses the lot
		}
	}
	return out, nil
}

// discoverLegacy reads the signature manifest cosign tags
// "sha256-<hex>.sig" in the subject's repository, if there is one.
func discoverLegacy(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) (*ocispec.Descriptor, []ocispec.Descriptor, error) {
	tag := cosignfmt.LegacySignatureTag(subject.Digest)
	desc, err := src.Resolve(ctx, tag)
	if err != nil {
		if errors.Is(err, oraserr.ErrNotFound) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("resolve signature tag %s: %w", tag, err)
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, src, desc)
	if err != nil {
		if isContentError(err) {
			return nil, nil, fmt.Errorf("%w: signature tag %s: %w", errdef.ErrSignatureInvalid, tag, err)
		}
		return nil, nil, fmt.Errorf("signature tag %s: %w", tag, err)
	}
	if len(m.Layers) > limits.MaxSignatures {
		return nil, nil, fmt.Errorf("%w: %w: signature tag %s holds %d signatures (max %d)",
			errdef.ErrSignatureInvalid, errdef.ErrSizeExceedsLimit, tag, len(m.Layers), limits.MaxSignatures)
	}
	return &desc, m.Layers, nil
}

// isContentError reports whether err is about what the registry served
// (malformed, oversized, mismatched or missing content) rather than about
// reaching it: such failures are terminal, the others worth retrying.
func isContentError(err error) bool {
	for _, e := range []error{
		errdef.ErrInvalidManifest, errdef.ErrSizeExceedsLimit, errdef.ErrDigestMismatch,
		errdef.ErrSizeMismatch, errdef.ErrNotFound,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
