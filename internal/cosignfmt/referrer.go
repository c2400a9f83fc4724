package cosignfmt

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// errEnough stops a referrers listing once more than the cap was seen.
var errEnough = errors.New("enough referrers")

// ReferrersTag returns the tag of the referrers tag fallback for d:
// "<algorithm>-<hex>", an index listing the manifests whose subject is d on
// registries without the referrers API.
func ReferrersTag(d digest.Digest) string {
	return strings.Replace(d.String(), ":", "-", 1)
}

// SignBundle signs subject with signer as cosign v3 does by default: a
// sigstore bundle v0.3 (NewKeyBundle) stored as a layer of an OCI 1.1
// manifest whose artifact type is BundleMediaType and whose subject is
// subject, pushed to target. A repository client from package remote files
// it under the referrers API, or updates the referrers tag fallback index
// on registries without the API. When a bundle for subject signed by the
// same key is already listed, nothing is written.
func SignBundle(ctx context.Context, target oras.Target, subject ocispec.Descriptor, signer crypto.Signer) (ocispec.Descriptor, error) {
	if err := subject.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: subject digest %q: %v", errdef.ErrInvalidReference, subject.Digest, err)
	}
	if signer == nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: no signing key", errdef.ErrInvalidKey)
	}
	existing, err := ListBundleReferrers(ctx, target, subject)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("list existing bundles: %w", err)
	}
	for _, m := range existing {
		if desc, ok := signedBy(ctx, target, subject, m, signer.Public()); ok {
			return desc, nil
		}
	}
	b, err := NewKeyBundle(signer, subject.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer := content.NewDescriptorFromBytes(BundleMediaType, b)
	if err := pushBlob(ctx, target, layer, b); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push bundle: %w", err)
	}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, BundleMediaType, oras.PackManifestOptions{
		Subject: &subj,
		Layers:  []ocispec.Descriptor{layer},
		ManifestAnnotations: map[string]string{
			BundleContentAnnotation:       "dsse-envelope",
			BundlePredicateTypeAnnotation: SignPredicateType,
		},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push bundle manifest: %w", err)
	}
	return desc, nil
}

// signedBy reports whether the referrer manifest m holds a bundle for
// subject that pub verifies.
func signedBy(ctx context.Context, f content.Fetcher, subject, m ocispec.Descriptor, pub crypto.PublicKey) (ocispec.Descriptor, bool) {
	layers, err := FetchBundleManifest(ctx, f, m, subject.Digest)
	if err != nil {
		return ocispec.Descriptor{}, false
	}
	for _, l := range layers {
		b, err := FetchPayload(ctx, f, l)
		if err != nil {
			continue
		}
		bu, err := ParseBundle(b)
		if err != nil {
			continue
		}
		if bu.VerifyKey(pub, subject.Digest) == nil {
			return m, true
		}
	}
	return ocispec.Descriptor{}, false
}

// ListBundleReferrers lists the manifests in src whose subject is subject
// and whose artifact type is BundleMediaType, refusing more than
// limits.MaxSignatures. A repository client from package remote uses the
// referrers API and falls back to the referrers tag by itself; other
// graph stores answer from their own index; any other target is read
// through the referrers tag. What it returns are claims: each manifest
// must still be fetched and checked (FetchBundleManifest). An oversized
// or malformed listing wraps errdef.ErrSizeExceedsLimit or
// errdef.ErrInvalidManifest; failures to reach the registry are returned
// as they are.
func ListBundleReferrers(ctx context.Context, src content.ReadOnlyStorage, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	list, err := ListReferrers(ctx, src, subject, BundleMediaType, func(d ocispec.Descriptor) bool { return d.ArtifactType == BundleMediaType }, limits.MaxSignatures)
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return nil, fmt.Errorf("%w: more than %d signature bundles refer to %s", errdef.ErrSizeExceedsLimit, limits.MaxSignatures, subject.Digest)
	}
	return list, err
}

// ListReferrers lists the manifests in src whose subject is subject, the
// way ListBundleReferrers does, asking for artifactType ("" for all) and
// keeping those keep accepts, at most limit of them: more wraps
// errdef.ErrSizeExceedsLimit. What it returns are claims about manifests
// that must still be fetched and checked.
func ListReferrers(ctx context.Context, src content.ReadOnlyStorage, subject ocispec.Descriptor, artifactType string, keep func(ocispec.Descriptor) bool, limit int) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	add := func(list []ocispec.Descriptor) error {
		for _, d := range list {
			if !keep(d) {
				continue
			}
			out = append(out, d)
			if len(out) > limit {
				return errEnough
			}
		}
		return nil
	}
	var err error
	switch s := src.(type) {
	case registry.ReferrerLister:
		err = s.Referrers(ctx, subject, artifactType, add)
	case content.ReadOnlyGraphStorage:
		var list []ocispec.Descriptor
		list, err = registry.Referrers(ctx, s, subject, artifactType)
		if err == nil {
			err = add(list)
		}
	default:
		var list []ocispec.Descriptor
		list, err = fetchReferrersTag(ctx, src, subject.Digest)
		if err == nil {
			err = add(list)
		}
	}
	switch {
	case errors.Is(err, errEnough):
		return nil, fmt.Errorf("%w: more than %d referrers of %s", errdef.ErrSizeExceedsLimit, limit, subject.Digest)
	case errors.Is(err, oraserr.ErrNotFound):
		return out, nil
	case err != nil:
		return nil, classify(err)
	}
	return out, nil
}

// fetchReferrersTag reads the referrers tag fallback index for d, if any.
func fetchReferrersTag(ctx context.Context, src content.ReadOnlyStorage, d digest.Digest) ([]ocispec.Descriptor, error) {
	r, ok := src.(content.Resolver)
	if !ok {
		return nil, nil
	}
	desc, err := r.Resolve(ctx, ReferrersTag(d))
	if err != nil {
		if errors.Is(err, oraserr.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if desc.Size < 0 || desc.Size > limits.MaxManifestBytes {
		return nil, fmt.Errorf("%w: referrers index %s is %d bytes (max %d)",
			errdef.ErrSizeExceedsLimit, desc.Digest, desc.Size, limits.MaxManifestBytes)
	}
	b, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return nil, err
	}
	idx, err := ParseReferrersIndex(b)
	if err != nil {
		return nil, err
	}
	return idx.Manifests, nil
}

// ParseReferrersIndex decodes a referrers index (the referrers API answer
// or the referrers tag fallback) read from a registry: at most
// limits.MaxManifestBytes, an OCI image index listing valid descriptors.
// Failures wrap errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
// Entries are claims about other manifests and prove nothing by
// themselves.
func ParseReferrersIndex(b []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if int64(len(b)) > limits.MaxManifestBytes {
		return idx, fmt.Errorf("%w: referrers index is %d bytes (max %d)",
			errdef.ErrSizeExceedsLimit, len(b), limits.MaxManifestBytes)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("%w: referrers index: %v", errdef.ErrInvalidManifest, err)
	}
	if idx.SchemaVersion != 2 {
		return ocispec.Index{}, fmt.Errorf("%w: referrers index schemaVersion %d, want 2", errdef.ErrInvalidManifest, idx.SchemaVersion)
	}
	if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
		return ocispec.Index{}, fmt.Errorf("%w: referrers index media type %q", errdef.ErrInvalidManifest, idx.MediaType)
	}
	for i, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return ocispec.Index{}, fmt.Errorf("%w: referrers index entry %d: digest %q: %v", errdef.ErrInvalidManifest, i, m.Digest, err)
		}
		if m.Size < 0 {
			return ocispec.Index{}, fmt.Errorf("%w: referrers index entry %d: negative size", errdef.ErrInvalidManifest, i)
		}
	}
	return idx, nil
}

// FetchBundleManifest fetches the referrer manifest desc, with the caps of
// FetchSignatureManifest, checks that its subject is subject and its
// artifact type BundleMediaType, and returns its bundle layers. A manifest
// that refers to another digest wraps errdef.ErrDigestMismatch; one that
// is not a bundle manifest errdef.ErrInvalidManifest.
func FetchBundleManifest(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, subject digest.Digest) ([]ocispec.Descriptor, error) {
	b, err := fetchMetadata(ctx, f, desc, "bundle manifest")
	if err != nil {
		return nil, err
	}
	return ParseBundleManifest(b, subject)
}

// ParseBundleManifest decodes a referrer manifest that should carry
// sigstore bundles for subject, and returns its bundle layers (at least
// one, at most limits.MaxLayers in the manifest).
func ParseBundleManifest(b []byte, subject digest.Digest) ([]ocispec.Descriptor, error) {
	m, err := ParseSignatureManifest(bytes.TrimSpace(b))
	if err != nil {
		return nil, err
	}
	artifactType := m.ArtifactType
	if artifactType == "" {
		artifactType = m.Config.MediaType
	}
	if artifactType != BundleMediaType {
		return nil, fmt.Errorf("%w: referrer artifact type %q is not a signature bundle", errdef.ErrInvalidManifest, artifactType)
	}
	if m.Subject == nil {
		return nil, fmt.Errorf("%w: bundle manifest has no subject", errdef.ErrInvalidManifest)
	}
	if m.Subject.Digest != subject {
		return nil, fmt.Errorf("%w: bundle manifest refers to %s, not %s", errdef.ErrDigestMismatch, m.Subject.Digest, subject)
	}
	var layers []ocispec.Descriptor
	for _, l := range m.Layers {
		if IsBundleMediaType(l.MediaType) {
			layers = append(layers, l)
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("%w: bundle manifest has no bundle layer", errdef.ErrInvalidManifest)
	}
	return layers, nil
}
