package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

// checkLegacyLayers holds a legacy signature manifest to
// limits.MaxSignatures layers of at most limits.MaxSignaturePayloadBytes:
// a mirror refuses to carry more than a verifier would read.
func checkLegacyLayers(tag string, layers []ocispec.Descriptor) error {
	if len(layers) > limits.MaxSignatures {
		return fmt.Errorf("%w: signature tag %s holds %d signatures (max %d)",
			errdef.ErrSizeExceedsLimit, tag, len(layers), limits.MaxSignatures)
	}
	for _, l := range layers {
		if l.Size > limits.MaxSignaturePayloadBytes {
			return fmt.Errorf("%w: signature tag %s: payload %s is %d bytes (max %d)",
				errdef.ErrSizeExceedsLimit, tag, l.Digest, l.Size, limits.MaxSignaturePayloadBytes)
		}
	}
	return nil
}

// copySignatures copies sigs for subject from src to dst and returns how
// many legacy signatures and bundle referrers were carried. The legacy
// manifest is tagged at dst, merged with the one dst already has when they
// differ; each bundle referrer is pushed as a manifest with a subject, which
// a registry client files under the referrers API or the referrers tag
// fallback, and a layout lists in its index. Referrers verify.Discover
// found wanting are left behind.
func copySignatures(ctx context.Context, src oras.ReadOnlyTarget, dst oras.Target, subject ocispec.Descriptor, sigs verify.Signatures) (legacy, referrers int, err error) {
	if sigs.LegacyManifest != nil {
		if err := pull.Fetch(ctx, src, *sigs.LegacyManifest, dst, pull.FetchOptions{}); err != nil {
			return 0, 0, fmt.Errorf("signature manifest %s: %w", sigs.LegacyManifest.Digest, err)
		}
		if err := tagLegacy(ctx, dst, subject.Digest, *sigs.LegacyManifest, sigs.Legacy); err != nil {
			return 0, 0, err
		}
	}
	for _, r := range sigs.Referrers {
		if !r.Valid() {
			continue
		}
		if err := pull.Fetch(ctx, src, r.Manifest, dst, pull.FetchOptions{}); err != nil {
			return 0, 0, fmt.Errorf("bundle referrer %s: %w", r.Manifest.Digest, err)
		}
		referrers++
	}
	return len(sigs.Legacy), referrers, nil
}

// tagLegacy points dst's legacy signature tag for subject at the copied
// manifest desc, or, when dst already has different signatures there, at a
// manifest holding both sets.
func tagLegacy(ctx context.Context, dst oras.Target, subject digest.Digest, desc ocispec.Descriptor, layers []ocispec.Descriptor) error {
	tag := cosignfmt.LegacySignatureTag(subject)
	existing, err := dst.Resolve(ctx, tag)
	switch {
	case errors.Is(err, oraserr.ErrNotFound):
		return tagAs(ctx, dst, desc, tag)
	case err != nil:
		return fmt.Errorf("resolve signature tag %s: %w", tag, err)
	case existing.Digest == desc.Digest:
		return nil
	}
	m, err := cosignfmt.FetchSignatureManifest(ctx, dst, existing)
	if err != nil {
		return fmt.Errorf("signature tag %s at the destination: %w", tag, err)
	}
	merged := mergeLayers(m.Layers, layers)
	if len(merged) == len(m.Layers) {
		return nil // the destination holds every signature already
	}
	if len(merged) > limits.MaxLayers {
		return fmt.Errorf("%w: merged signature manifest %s would hold %d layers (max %d)",
			errdef.ErrSizeExceedsLimit, tag, len(merged), limits.MaxLayers)
	}
	return cosignfmt.WriteSignatureManifest(ctx, dst, merged, tag)
}

// tagAs tags desc as tag at dst.
func tagAs(ctx context.Context, dst oras.Target, desc ocispec.Descriptor, tag string) error {
	if err := dst.Tag(ctx, desc, tag); err != nil {
		return fmt.Errorf("tag %s as %q: %w", desc.Digest, tag, err)
	}
	return nil
}

// mergeLayers returns have followed by the layers of add it lacks; two
// layers are the same signature when payload digest and signature
// annotation agree.
func mergeLayers(have, add []ocispec.Descriptor) []ocispec.Descriptor {
	type sig struct {
		payload digest.Digest
		value   string
	}
	seen := make(map[sig]bool, len(have)+len(add))
	out := make([]ocispec.Descriptor, 0, len(have)+len(add))
	for _, l := range append(append([]ocispec.Descriptor{}, have...), add...) {
		k := sig{l.Digest, l.Annotations[cosignfmt.SignatureAnnotation]}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out
}
