package pull

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Resolve returns the descriptor of the manifest or index ref names: by
// digest when ref has one (and the registry must agree on it), otherwise by
// tag. Against a registry this is a HEAD request, or a GET whose body is
// discarded when the registry refuses HEAD (405, 501). The descriptor's size is
// capped at limits.MaxManifestBytes and its media type must be a manifest or
// an index.
func Resolve(ctx context.Context, src oras.ReadOnlyTarget, ref Reference) (ocispec.Descriptor, error) {
	fail := func(err error) (ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, &Error{Op: "resolve", Ref: ref.String(), Err: err}
	}
	key := ref.Reference()
	if key == "" {
		return fail(fmt.Errorf("%w: no tag or digest", errdef.ErrInvalidReference))
	}
	desc, err := src.Resolve(ctx, key)
	if rf, ok := src.(registry.ReferenceFetcher); ok && err != nil && headUnsupported(err) {
		desc, err = resolveByGet(ctx, rf, key)
	}
	if err != nil {
		return fail(classify(err))
	}
	if ref.Digest != "" && desc.Digest.String() != ref.Digest {
		return fail(fmt.Errorf("%w: asked for %s, got %s", errdef.ErrDigestMismatch, ref.Digest, desc.Digest))
	}
	if err := checkDescriptor(desc); err != nil {
		return fail(err)
	}
	if desc.Size > limits.MaxManifestBytes {
		return fail(fmt.Errorf("%w: manifest is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, desc.Size, limits.MaxManifestBytes))
	}
	if kindOf(desc.MediaType) == kindOther {
		return fail(fmt.Errorf("%w: %q is not a manifest or index", errdef.ErrUnsupportedMediaType, desc.MediaType))
	}
	return desc, nil
}

// headUnsupported reports a registry that does not implement HEAD.
func headUnsupported(err error) bool {
	var resp *errcode.ErrorResponse
	return errors.As(err, &resp) && resp.Method == http.MethodHead &&
		(resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented)
}

// resolveByGet resolves key with a GET, closing the body unread: the
// descriptor comes from the response headers.
func resolveByGet(ctx context.Context, rf registry.ReferenceFetcher, key string) (ocispec.Descriptor, error) {
	desc, rc, err := rf.FetchReference(ctx, key)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	_ = rc.Close()
	return desc, nil
}
