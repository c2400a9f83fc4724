package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

// ImageResult says what a transfer did with one image of an artifact's
// images lock.
type ImageResult struct {
	// Image is the reference as the lock wrote it.
	Image string `json:"image"`
	// Source is where it was read: the image's repository, or the layout.
	Source string `json:"source"`
	// Destination is where it landed: a repository (name@digest) or, in a
	// layout, the entry's name.
	Destination string `json:"destination,omitempty"`
	// Digest and MediaType are the locked manifest or index.
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Platforms is the number of manifests of an index (all copied).
	Platforms int `json:"platforms,omitempty"`
	// Signatures and Referrers count the image's cosign signatures (legacy
	// layers and bundle referrers) copied with it; OtherReferrers the other
	// referrers (SBOMs, attestations).
	Signatures     int `json:"signatures"`
	Referrers      int `json:"referrers"`
	OtherReferrers int `json:"otherReferrers,omitempty"`
	// Skipped says why the image was not copied: recorded unresolved, with
	// no digest, when the artifact was pushed.
	Skipped string `json:"skipped,omitempty"`
}

// imageSource opens where an image is read from.
type imageSource func(ref imagelock.Reference) (oras.ReadOnlyTarget, string, error)

// transfer is one run of copies into one destination.
type transfer struct {
	opts Options
	sink *sink

	mu     sync.Mutex
	copied map[string]*imageCopy // by name@digest: an image is copied once per transfer
}

// imageCopy is one image's copy, shared by every artifact that pins it.
type imageCopy struct {
	once sync.Once
	res  ImageResult
	err  error
}

func newTransfer(opts Options, s *sink) *transfer {
	return &transfer{opts: opts, sink: s, copied: map[string]*imageCopy{}}
}

// source wraps a source target for the caller's progress, if any.
func (t *transfer) source(src oras.ReadOnlyTarget) oras.ReadOnlyTarget {
	if t.opts.WrapSource == nil {
		return src
	}
	return t.opts.WrapSource(src)
}

// note tells the caller an item was carried.
func (t *transfer) note(kind, name string) {
	if t.opts.OnItem != nil {
		t.opts.OnItem(kind, name)
	}
}

// copySubject copies desc's graph from src to dst with its signatures and,
// as opts.ReferrerTypes allow, its other referrers. fetch bounds the graph
// copy (images get larger limits than artifacts).
func (t *transfer) copySubject(ctx context.Context, src oras.ReadOnlyTarget, dst oras.Target, desc ocispec.Descriptor, sigs verify.Signatures, fetch pull.FetchOptions) (legacy, bundles, others int, err error) {
	src = t.source(src)
	if err := pull.Fetch(ctx, src, desc, dst, fetch); err != nil {
		return 0, 0, 0, err
	}
	if legacy, bundles, err = copySignatures(ctx, src, dst, desc, sigs); err != nil {
		return 0, 0, 0, err
	}
	others, err = copyReferrers(ctx, src, dst, desc, t.opts.ReferrerTypes)
	return legacy, bundles, others, err
}

// copyReferrers copies the referrers of subject that are not signature
// bundles (SBOMs, attestations, ...), those of types only when types is
// set, at most limits.MaxReferrers. Each is copied with its own graph
// (pull.Fetch, with pull's caps) and filed at dst the way bundles are. A
// listed manifest that is missing is skipped, as a verifier skips it.
func copyReferrers(ctx context.Context, src oras.ReadOnlyTarget, dst oras.Target, subject ocispec.Descriptor, types []string) (int, error) {
	keep := func(d ocispec.Descriptor) bool {
		if d.ArtifactType == cosignfmt.BundleMediaType {
			return false // signatures: verify.Discover's, copied with them
		}
		return len(types) == 0 || slices.Contains(types, d.ArtifactType)
	}
	list, err := cosignfmt.ListReferrers(ctx, src, subject, "", keep, limits.MaxReferrers)
	if err != nil {
		return 0, fmt.Errorf("referrers of %s: %w", subject.Digest, err)
	}
	n := 0
	for _, r := range list {
		err := pull.Fetch(ctx, src, r, dst, pull.FetchOptions{})
		if errors.Is(err, errdef.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("referrer %s (%s): %w", r.Digest, r.ArtifactType, err)
		}
		n++
	}
	return n, nil
}

// images copies every image lock pins into the destination, reading
// each where from says. An image already copied in this transfer is not
// copied again. Entries recorded unresolved without a digest are reported
// as skipped.
func (t *transfer) images(ctx context.Context, lock *imagelock.Lock, from imageSource) ([]ImageResult, error) {
	var out []ImageResult
	for _, img := range lock.Images {
		res, err := t.image(ctx, img, from)
		if err != nil {
			return out, &Error{Op: "images", Location: img.Image, Err: err}
		}
		out = append(out, res)
	}
	return out, nil
}

// image copies one locked image.
func (t *transfer) image(ctx context.Context, img imagelock.Image, from imageSource) (ImageResult, error) {
	res := ImageResult{Image: img.Image, Digest: img.Digest, MediaType: img.MediaType}
	ref, err := img.Reference()
	if err != nil {
		return res, err
	}
	desc, ok := img.Descriptor()
	if !ok {
		res.Skipped = "recorded unresolved when the artifact was pushed"
		if img.Digest != "" {
			res.Skipped += "; its media type and size are unknown"
		}
		return res, nil
	}
	src, srcName, err := from(ref)
	if err != nil {
		return res, err
	}
	return t.copyImage(ctx, imageJob{src: src, srcName: srcName, ref: ref, written: img.Image, desc: desc})
}

// imageJob is one image to carry.
type imageJob struct {
	src     oras.ReadOnlyTarget
	srcName string
	// ref is the image's reference (its repository path is where it lands;
	// its tag, when written, is set at a registry).
	ref imagelock.Reference
	// written is the reference as the lock wrote it.
	written string
	desc    ocispec.Descriptor
}

// copyImage copies one image, once per transfer: its graph (every
// platform of an index), its cosign signatures and its referrers.
func (t *transfer) copyImage(ctx context.Context, job imageJob) (ImageResult, error) {
	key := job.ref.Name() + "@" + job.desc.Digest.String()
	t.mu.Lock()
	c, ok := t.copied[key]
	if !ok {
		c = &imageCopy{}
		t.copied[key] = c
	}
	t.mu.Unlock()
	c.once.Do(func() { c.res, c.err = t.copyImageOnce(ctx, job, key) })
	res := c.res
	res.Image = job.written
	return res, c.err
}

// copyImageOnce is copyImage's copy.
func (t *transfer) copyImageOnce(ctx context.Context, job imageJob, key string) (ImageResult, error) {
	ref, desc := job.ref, job.desc
	res := ImageResult{Image: job.written, Source: job.srcName, Digest: desc.Digest.String(), MediaType: desc.MediaType}
	src := job.src
	// The lock names a digest: resolve it where the image is read, so a
	// source that holds other bytes, or none, is found before any copy.
	got, err := pull.Resolve(ctx, src, pull.Reference{Registry: ref.Domain, Repository: ref.Path, Digest: desc.Digest.String()})
	if err != nil {
		return res, fmt.Errorf("%s at %s: %w", key, job.srcName, err)
	}
	if got.MediaType != desc.MediaType || got.Size != desc.Size {
		return res, fmt.Errorf("%w: %s at %s is %s of %d bytes, the lock says %s of %d", errdef.ErrInvalidManifest, key, job.srcName, got.MediaType, got.Size, desc.MediaType, desc.Size)
	}
	dst, err := t.sink.target(ref.Path)
	if err != nil {
		return res, err
	}
	sigs, err := verify.Discover(ctx, src, desc)
	if err != nil {
		return res, fmt.Errorf("signatures of %s: %w", key, err)
	}
	if err := checkLegacyLayers(cosignfmt.LegacySignatureTag(desc.Digest), sigs.Legacy); err != nil {
		return res, err
	}
	fetch := pull.FetchOptions{MaxBytes: limits.MaxImageBytes, MaxBlobBytes: limits.MaxImageBlobBytes}
	if res.Signatures, res.Referrers, res.OtherReferrers, err = t.copySubject(ctx, src, dst, desc, sigs, fetch); err != nil {
		return res, err
	}
	if imagelock.IsIndex(desc.MediaType) {
		res.Platforms = platforms(ctx, src, desc)
	}
	// At a registry the image is named by its digest, and by the tag the
	// manifests wrote (so a relocation that keeps tags finds it too); in a
	// layout, by repository and digest, with what it is.
	if t.sink.store == nil {
		res.Destination = t.sink.repository(ref.Path)[len(SchemeRegistry):] + "@" + desc.Digest.String()
		if ref.Tag != "" {
			if err := dst.Tag(ctx, desc, ref.Tag); err != nil {
				return res, fmt.Errorf("tag %s as %q: %w", key, ref.Tag, err)
			}
		}
	} else {
		res.Destination = name(ref.Path, "", desc)
		if err := t.sink.label(ctx, desc, res.Destination, EntryImage, ref.Path, job.written); err != nil {
			return res, err
		}
	}
	t.note(EntryImage, key)
	return res, nil
}

// platforms counts the manifests of the index desc (0 when it cannot be
// read; the copy read it already).
func platforms(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor) int {
	doc, err := readIndex(ctx, src, desc)
	if err != nil {
		return 0
	}
	return len(doc.Manifests)
}

// readIndex reads an index, capped at limits.MaxManifestBytes and checked
// against its digest.
func readIndex(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	if desc.Size > limits.MaxManifestBytes {
		return idx, fmt.Errorf("%w: index %s is %d bytes", errdef.ErrSizeExceedsLimit, desc.Digest, desc.Size)
	}
	b, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return idx, err
	}
	return idx, json.Unmarshal(b, &idx)
}
