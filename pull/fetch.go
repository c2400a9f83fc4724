package pull

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// fetchConcurrency is how many blobs are copied at once: enough to overlap
// round trips, few enough to stay polite to a registry.
const fetchConcurrency = 3

// FetchOptions tune Fetch. The zero value applies the default limits.
type FetchOptions struct {
	// MaxBytes caps the bytes one fetch copies, all blobs of the graph
	// together; 0 means limits.MaxFetchBytes.
	MaxBytes int64
	// MaxBlobBytes caps one blob other than a manifest or index (a layer,
	// a config); 0 means limits.MaxLayerBytes. Copying container images
	// raises it (limits.MaxImageBlobBytes).
	MaxBlobBytes int64
}

// Fetch copies the graph desc roots (a manifest with its config and layers,
// or an index with its manifests and theirs) from src into dst, then tags dst
// with the digest string so dst can resolve it (a registry resolves digests
// by itself and is not asked to). Subjects a manifest refers to
// are not followed. Every blob is verified against its descriptor while it
// streams; manifests, layer sizes, layer counts and the whole graph's bytes
// (opts.MaxBytes) are capped (see the package limits), and an index may not
// hold another index. The total is checked from the descriptors as each
// manifest is read, before its blobs are downloaded, and again on the bytes
// as they stream. Content dst already has is not fetched again.
func Fetch(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor, dst oras.Target, opts FetchOptions) error {
	fail := func(err error) error {
		return &Error{Op: "fetch", Ref: desc.Digest.String(), Err: err}
	}
	if err := checkDescriptor(desc); err != nil {
		return fail(err)
	}
	if kindOf(desc.MediaType) == kindOther {
		return fail(fmt.Errorf("%w: %q is not a manifest or index", errdef.ErrUnsupportedMediaType, desc.MediaType))
	}
	b := newByteBudget(opts.MaxBytes, opts.MaxBlobBytes)
	if err := b.checkBlobSize(desc); err != nil {
		return fail(err)
	}
	if err := b.announce(desc); err != nil {
		return fail(err)
	}
	w := &graphWalker{underIndex: map[digest.Digest]bool{}, budget: b}
	copyOpts := oras.CopyGraphOptions{
		Concurrency:      fetchConcurrency,
		MaxMetadataBytes: limits.MaxManifestBytes,
		FindSuccessors:   w.successors,
	}
	if err := oras.CopyGraph(ctx, verifiedStorage{src, b}, dst, desc, copyOpts); err != nil {
		return fail(classify(err))
	}
	if _, isRegistry := dst.(registry.Repository); isRegistry {
		// A registry resolves a manifest by its digest once it holds it;
		// "tagging" it with the digest would fetch and put it again.
		return nil
	}
	if err := dst.Tag(ctx, desc, desc.Digest.String()); err != nil {
		return fail(fmt.Errorf("tag destination: %w", err))
	}
	return nil
}

// byteBudget is the total-bytes cap of one fetch: descriptors are counted
// (once per digest) when a manifest announces them, and the bytes read are
// counted as they stream, so neither a graph that adds up to too much nor a
// reader that yields more than its descriptors promised gets past it.
type byteBudget struct {
	limit int64
	// blobLimit caps one blob that is not a manifest or index.
	blobLimit int64
	read      atomic.Int64

	mu        sync.Mutex
	announced int64
	seen      map[digest.Digest]bool
}

func newByteBudget(limit, blobLimit int64) *byteBudget {
	if limit <= 0 {
		limit = limits.MaxFetchBytes
	}
	if blobLimit <= 0 {
		blobLimit = limits.MaxLayerBytes
	}
	return &byteBudget{limit: limit, blobLimit: blobLimit, seen: map[digest.Digest]bool{}}
}

// announce counts descriptors about to be fetched.
func (b *byteBudget) announce(descs ...ocispec.Descriptor) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range descs {
		if b.seen[d.Digest] {
			continue
		}
		b.seen[d.Digest] = true
		b.announced += d.Size
		if b.announced > b.limit {
			return fmt.Errorf("%w: the artifact's blobs add up to more than %d bytes (at %s)", errdef.ErrSizeExceedsLimit, b.limit, d.Digest)
		}
	}
	return nil
}

// consume counts n bytes read.
func (b *byteBudget) consume(n int) error {
	if b.read.Add(int64(n)) > b.limit {
		return fmt.Errorf("%w: more than %d bytes read in one fetch", errdef.ErrSizeExceedsLimit, b.limit)
	}
	return nil
}

// checkBlobSize caps manifests and indexes at limits.MaxManifestBytes and
// every other blob at the budget's blob limit.
func (b *byteBudget) checkBlobSize(d ocispec.Descriptor) error {
	limit := b.blobLimit
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
	budget     *byteBudget
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
			if err := w.budget.checkBlobSize(l); err != nil {
				return nil, err
			}
			next = append(next, l)
		}
		if err := w.budget.announce(next...); err != nil {
			return nil, err
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
		if err := w.budget.checkBlobSize(m); err != nil {
			return nil, err
		}
		w.underIndex[m.Digest] = true
	}
	if err := w.budget.announce(doc.Manifests...); err != nil {
		return nil, err
	}
	return doc.Manifests, nil
}
