package pull

import (
	"context"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// fetchConcurrency is how many blobs are copied at once: enough to overlap
// round trips, few enough to stay polite to a registry.
const fetchConcurrency = 3

// Fetch copies the graph desc roots (a manifest with its config and layers,
// or an index with its manifests and theirs) from src into dst, then tags dst
// with the digest string so dst can resolve it. Subjects a manifest refers to
// are not followed. Every blob is verified against its descriptor while it
// streams; manifests, layer sizes and layer counts are capped (see the package
// limits), and an index may not hold another index. Content dst already has is
// not fetched again.
func Fetch(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor, dst oras.Target) error {
	fail := func(err error) error {
		return &Error{Op: "fetch", Ref: desc.Digest.String(), Err: err}
	}
	if err := checkDescriptor(desc); err != nil {
		return fail(err)
	}
	if kindOf(desc.MediaType) == kindOther {
		return fail(fmt.Errorf("%w: %q is not a manifest or index", errdef.ErrUnsupportedMediaType, desc.MediaType))
	}
	w := &graphWalker{underIndex: map[digest.Digest]bool{}}
	opts := oras.CopyGraphOptions{
		Concurrency:      fetchConcurrency,
		MaxMetadataBytes: limits.MaxManifestBytes,
		FindSuccessors:   w.successors,
	}
	if err := checkBlobSize(desc); err != nil {
		return fail(err)
	}
	if err := oras.CopyGraph(ctx, verifiedStorage{src}, dst, desc, opts); err != nil {
		return fail(classify(err))
	}
	if err := dst.Tag(ctx, desc, desc.Digest.String()); err != nil {
		return fail(fmt.Errorf("tag destination: %w", err))
	}
	return nil
}

// checkBlobSize caps manifests and indexes at limits.MaxManifestBytes and
// every other blob at limits.MaxLayerBytes.
func checkBlobSize(d ocispec.Descriptor) error {
	limit := limits.MaxLayerBytes
	if kindOf(d.MediaType) != kindOther {
		limit = limits.MaxManifestBytes
	}
	if d.Size > limit {
		return fmt.Errorf("%w: %s (%s) is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, d.Digest, d.MediaType, d.Size, limit)
	}
	return nil
}

// graphWalker finds the successors of manifests and indexes, bounded.
type graphWalker struct {
	mu         sync.Mutex
	underIndex map[digest.Digest]bool
}

func (w *graphWalker) successors(ctx context.Context, fetcher content.Fetcher, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	k := kindOf(d.MediaType)
	if k == kindOther {
		return nil, nil
	}
	doc, err := readDocument(ctx, fetcher, d)
	if err != nil {
		return nil, err
	}
	if k == kindManifest {
		next := make([]ocispec.Descriptor, 0, 1+len(doc.Layers))
		if doc.Config.Size > limits.MaxManifestBytes {
			return nil, fmt.Errorf("%w: config %s is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, doc.Config.Digest, doc.Config.Size, limits.MaxManifestBytes)
		}
		next = append(next, doc.Config)
		for _, l := range doc.Layers {
			if err := checkBlobSize(l); err != nil {
				return nil, err
			}
			next = append(next, l)
		}
		return next, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.underIndex[d.Digest] {
		return nil, fmt.Errorf("%w: index %s is nested in another index", errdef.ErrUnsupportedMediaType, d.Digest)
	}
	for _, m := range doc.Manifests {
		if kindOf(m.MediaType) == kindOther {
			return nil, fmt.Errorf("%w: index %s lists %q", errdef.ErrUnsupportedMediaType, d.Digest, m.MediaType)
		}
		if err := checkBlobSize(m); err != nil {
			return nil, err
		}
		w.underIndex[m.Digest] = true
	}
	return doc.Manifests, nil
}
