package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Signature formats a candidate can be in.
const (
	formatLegacy = "legacy"
	formatBundle = "bundle"
)

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

// source finds candidate signatures for subject in one place. It returns no
// candidates and no error when that place holds nothing for the subject.
type source struct {
	name string
	find func(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]candidate, error)
}

// sources are tried in order and their candidates pooled: sigstore bundles
// listed as referrers (the referrers API, or the referrers tag fallback on
// registries without it), then the legacy signature tag.
var sources = []source{
	{name: "referrers", find: referrerCandidates},
	{name: "legacy signature tag", find: legacyTagCandidates},
}

// discover gathers the candidate signatures for subject from every source,
// refusing more than limits.MaxSignatures in total.
func discover(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]candidate, []string, error) {
	// The sources are independent reads: ask them all at once, so a remote
	// registry costs one round trip of latency rather than one per source.
	type found struct {
		cands []candidate
		err   error
	}
	results := make([]found, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		wg.Go(func() {
			cands, err := s.find(ctx, src, subject)
			results[i] = found{cands, err}
		})
	}
	wg.Wait()
	var (
		all    []candidate
		looked []string
	)
	for i, s := range sources {
		if err := results[i].err; err != nil {
			return nil, looked, err
		}
		looked = append(looked, s.name)
		all = append(all, results[i].cands...)
		if len(all) > limits.MaxSignatures {
			return nil, looked, fmt.Errorf("%w: %w: more than %d signatures stored for the digest",
				errdef.ErrSignatureInvalid, errdef.ErrSizeExceedsLimit, limits.MaxSignatures)
		}
	}
	return all, looked, nil
}

// referrerCandidates lists the bundle referrers of subject and reads each
// referrer manifest, which must itself name subject: the listing is only a
// claim. One candidate per bundle layer, or one carrying the problem when
// the manifest does not hold up.
func referrerCandidates(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]candidate, error) {
	refs, err := cosignfmt.ListBundleReferrers(ctx, src, subject)
	if err != nil {
		if isContentError(err) {
			return nil, fmt.Errorf("%w: referrers of %s: %w", errdef.ErrSignatureInvalid, subject.Digest, err)
		}
		return nil, fmt.Errorf("referrers of %s: %w", subject.Digest, err)
	}
	var out []candidate
	for _, m := range refs {
		origin := "referrer " + m.Digest.String()
		layers, err := cosignfmt.FetchBundleManifest(ctx, src, m, subject.Digest)
		switch {
		case errors.Is(err, errdef.ErrDigestMismatch):
			out = append(out, candidate{origin: origin, format: formatBundle, layer: m, problem: problemOtherDigest})
			continue
		case err != nil && isContentError(err):
			out = append(out, candidate{origin: origin, format: formatBundle, layer: m, problem: problemBadManifest})
			continue
		case err != nil:
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		for _, l := range layers {
			out = append(out, candidate{origin: origin, format: formatBundle, layer: l})
		}
		if len(out) > limits.MaxSignatures {
			break // discover refuses the lot
		}
	}
	return out, nil
}

// legacyTagCandidates reads the signature manifest cosign tags
// "sha256-<hex>.sig" in the subject's repository: one candidate per layer.
func legacyTagCandidates(ctx context.Context, src oras.ReadOnlyTarget, subject ocispec.Descriptor) ([]candidate, error) {
	tag := cosignfmt.LegacySignatureTag(subject.Digest)
	desc, err := src.Resolve(ctx, tag)
	if err != nil {
		if errors.Is(err, oraserr.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("resolve signature tag %s: %w", tag, err)
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, src, desc)
	if err != nil {
		if isContentError(err) {
			return nil, fmt.Errorf("%w: signature tag %s: %w", errdef.ErrSignatureInvalid, tag, err)
		}
		return nil, fmt.Errorf("signature tag %s: %w", tag, err)
	}
	if len(m.Layers) > limits.MaxSignatures {
		return nil, fmt.Errorf("%w: %w: signature tag %s holds %d signatures (max %d)",
			errdef.ErrSignatureInvalid, errdef.ErrSizeExceedsLimit, tag, len(m.Layers), limits.MaxSignatures)
	}
	out := make([]candidate, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, candidate{origin: "tag " + tag, format: formatLegacy, layer: l})
	}
	return out, nil
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
