package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

// Options configure Mirror. The zero value copies between registries over
// HTTPS with the default credentials, without checking signatures, and
// without images.
type Options struct {
	// Remote is how both registries are reached (auth, TLS, plain HTTP),
	// and the registries images are read from with WithImages (static
	// credentials then stay with the source's registry).
	Remote pull.RemoteOptions
	// Policy, when set, must hold for the digest at the source before
	// anything is written; in verify.Audit mode a failed verdict is
	// reported in Result.Verdict and the mirror goes on.
	Policy *verify.Policy
	// WithImages also copies every image the artifact's images lock pins,
	// each with all its platforms, its cosign signatures and referrers.
	// From a registry they are read at their own registries; from a layout
	// or tar, in it. At a registry destination they land on the
	// destination's host at their repository path without the source
	// host (docker.io/library/nginx -> HOST/library/nginx); in a layout
	// they are listed in index.json as repository@digest.
	WithImages bool
	// ReferrerTypes, when set, limits the referrers copied besides
	// signature bundles (SBOMs, attestations) to these artifact types;
	// empty copies them all.
	ReferrerTypes []string
	// WrapSource, when set, wraps every source read (progress counting).
	WrapSource func(oras.ReadOnlyTarget) oras.ReadOnlyTarget
	// OnItem, when set, is told of each artifact (EntryArtifact) and image
	// (EntryImage) once it is copied.
	OnItem func(kind, name string)
	// Trust, when set, is carried into a layout or tar destination (named
	// TrustName) for the far side to use once it pinned its fingerprints
	// (PinnedTrust). A registry destination does not carry it.
	Trust *Trust
}

// Result says what Mirror carried.
type Result struct {
	// Source and Destination are the locations as given.
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Repository is the repository path the artifact landed at in a
	// transfer of several (MirrorList); empty for Mirror.
	Repository string `json:"repository,omitempty"`
	// Digest is the manifest digest copied, the same at both ends.
	Digest string `json:"digest"`
	// Tag is the tag given to the digest at the destination, if any.
	Tag string `json:"tag,omitempty"`
	// Signatures is the number of legacy signatures (layers of the
	// "sha256-<hex>.sig" manifest) copied.
	Signatures int `json:"signatures"`
	// Referrers is the number of sigstore bundle referrer manifests copied.
	Referrers int `json:"referrers"`
	// OtherReferrers is the number of other referrers copied (SBOMs,
	// attestations), as Options.ReferrerTypes allow.
	OtherReferrers int `json:"otherReferrers,omitempty"`
	// Verdict is the verdict at the source, when Options.Policy was set.
	Verdict *verify.Verdict `json:"verdict,omitempty"`
	// Images are the images of the artifact's lock, with Options.WithImages.
	Images []ImageResult `json:"images,omitempty"`
	// NoImagesLock is set when images were asked for and the artifact holds
	// no images lock.
	NoImagesLock bool `json:"noImagesLock,omitempty"`
}

// Error is a failed mirror step at one location.
type Error struct {
	// Op is the step: "open", "resolve", "verify" (at the source, or at
	// the destination after the copy), "signatures" (reading them at the
	// source), "copy" (to the destination; the cause names the source),
	// "images" (reading the images lock, or copying an image; Location is
	// then the image), "write" (publishing a tar file) or "check"
	// (CheckContent).
	Op string
	// Location is the location it failed at, as given.
	Location string
	// Err is the cause; it wraps an errdef sentinel where one applies.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Location, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// source is an opened source location.
type source struct {
	target oras.ReadOnlyTarget
	close  func()
	// index lists the entries of a layout's or tar's index.json.
	index []ocispec.Descriptor
}

// Mirror copies the artifact src names, and its signatures, to dst. It
// resolves src to a digest once, checks it against opts.Policy when one is
// set (writing nothing when it fails), finds the digest's signatures with
// verify.Discover, copies the digest's graph, the legacy signature manifest,
// the signature bundle referrers and the other referrers, and, when the
// policy held at src, checks that it holds at dst too. With opts.WithImages
// it then copies the images of the artifact's lock. Only then does it tag
// the digest at dst with dst's tag or else src's, check that dst resolves
// to the same digest, and write a tar file: a failure before leaves no tag
// at dst.
func Mirror(ctx context.Context, src, dst Location, opts Options) (Result, error) {
	res := Result{Source: src.String(), Destination: dst.String()}
	srcErr := func(op string, err error) (Result, error) {
		return res, &Error{Op: op, Location: res.Source, Err: err}
	}
	dstErr := func(op string, err error) (Result, error) {
		return res, &Error{Op: op, Location: res.Destination, Err: err}
	}

	s, err := openSource(ctx, src, opts)
	if err != nil {
		return srcErr("open", err)
	}
	defer s.close()
	tag, desc, err := resolveSource(ctx, s.target, src)
	if err != nil {
		return srcErr("resolve", err)
	}
	res.Digest = desc.Digest.String()
	if dst.Digest != "" && dst.Digest != res.Digest {
		return dstErr("resolve", fmt.Errorf("%w: the destination names %s, the source holds %s", errdef.ErrDigestMismatch, dst.Digest, res.Digest))
	}
	if dst.Tag != "" {
		tag = dst.Tag
	}
	res.Tag = tag

	job := artifactJob{src: s.target, srcName: res.Source, desc: desc, path: dst.Ref.Repository}
	if opts.WithImages {
		job.images = imagesAt(src, s.target, opts.Remote)
	}
	// Nothing is opened at the destination before the source has passed.
	if err := check(ctx, opts, &job, &res); err != nil {
		return res, err
	}
	sk, err := openSink(ctx, dst, opts.Remote, "")
	if err != nil {
		return dstErr("open", err)
	}
	defer sk.close()
	t := newTransfer(opts, sk)
	placed, err := t.artifact(ctx, job, &res)
	if err != nil {
		return res, err
	}
	if tag != "" {
		if err := placed.Tag(ctx, desc, tag); err != nil {
			return dstErr("copy", fmt.Errorf("tag %s as %q: %w", desc.Digest, tag, err))
		}
	}
	key := desc.Digest.String()
	if tag != "" {
		key = tag
	}
	got, err := placed.Resolve(ctx, key)
	if err != nil {
		return dstErr("copy", fmt.Errorf("resolve %s after copying: %w", key, err))
	}
	if got.Digest != desc.Digest {
		return dstErr("copy", fmt.Errorf("%w: %s resolves to %s, the source holds %s", errdef.ErrDigestMismatch, key, got.Digest, desc.Digest))
	}
	if err := sk.carryTrust(ctx, opts.Trust); err != nil {
		return dstErr("copy", fmt.Errorf("trust material: %w", err))
	}
	if sk.commit != nil {
		if err := sk.commit(); err != nil {
			return dstErr("write", err)
		}
	}
	t.note(EntryArtifact, res.Source)
	return res, nil
}

// OpenRelease opens a layout or tar (checked as Mirror checks a source)
// and returns its store, the entries a transfer labelled in its index.json
// (ReleaseEntries; none for a layout written by Mirror without images),
// the entries' names of plain tags, and what to release when done.
func OpenRelease(ctx context.Context, loc Location, remote pull.RemoteOptions) (oras.ReadOnlyTarget, []ReleaseEntry, func(), error) {
	if loc.Kind == KindRegistry {
		return nil, nil, nil, &Error{Op: "open", Location: loc.String(), Err: fmt.Errorf("%w: not a layout or tar", errdef.ErrInvalidReference)}
	}
	s, err := openSource(ctx, loc, Options{Remote: remote})
	if err != nil {
		return nil, nil, nil, &Error{Op: "open", Location: loc.String(), Err: err}
	}
	entries, err := ReleaseEntries(s.index)
	if err != nil {
		s.close()
		return nil, nil, nil, &Error{Op: "open", Location: loc.String(), Err: err}
	}
	return s.target, entries, s.close, nil
}

// artifactJob is one artifact to carry.
type artifactJob struct {
	src     oras.ReadOnlyTarget
	srcName string
	desc    ocispec.Descriptor
	// path is the repository path it lands at in a registry.
	path string
	// images, when set, is where the images of its lock are read.
	images imageSource
	// sigs are its signatures at the source (check).
	sigs verify.Signatures
}

// check verifies job's artifact at its source against opts.Policy, when
// set, and finds its signatures there, before anything is written.
func check(ctx context.Context, opts Options, job *artifactJob, res *Result) error {
	if opts.Policy != nil {
		v, err := verify.Verify(ctx, job.src, job.desc, *opts.Policy)
		res.Verdict = &v
		if err != nil {
			return &Error{Op: "verify", Location: job.srcName, Err: err}
		}
	}
	sigs, err := verify.Discover(ctx, job.src, job.desc)
	if err == nil {
		err = checkLegacyLayers(cosignfmt.LegacySignatureTag(job.desc.Digest), sigs.Legacy)
	}
	if err != nil {
		return &Error{Op: "signatures", Location: job.srcName, Err: err}
	}
	job.sigs = sigs
	return nil
}

// artifact carries one artifact, checked, into the transfer's
// destination, up to its tag: its graph, signatures and referrers copied,
// verified again where they landed, and, with images, the images of its
// lock copied. It fills res and returns the target the artifact landed in,
// for the caller to tag.
func (t *transfer) artifact(ctx context.Context, job artifactJob, res *Result) (oras.Target, error) {
	dstErr := func(op string, err error) (oras.Target, error) {
		return nil, &Error{Op: op, Location: res.Destination, Err: err}
	}
	desc, sigs := job.desc, job.sigs
	dst, err := t.sink.target(job.path)
	if err != nil {
		return dstErr("open", err)
	}
	// Content and signatures first, checked where they landed, and only
	// then the tag: a failure on the way leaves the destination without a
	// tag that names an artifact whose signatures are missing there.
	if res.Signatures, res.Referrers, res.OtherReferrers, err = t.copySubject(ctx, job.src, dst, desc, sigs, pull.FetchOptions{}); err != nil {
		return dstErr("copy", fmt.Errorf("from %s: %w", job.srcName, err))
	}
	if res.Verdict != nil && res.Verdict.Verified {
		// What the source proved must hold where it was copied to, before
		// it is tagged there or a tar file is published.
		v, err := verify.Verify(ctx, dst, desc, *t.opts.Policy)
		if err == nil && !v.Verified {
			err = fmt.Errorf("%w: %s", errdef.ErrSignatureInvalid, v.Reason)
		}
		if err != nil {
			return dstErr("verify", fmt.Errorf("the copied signatures do not verify: %w", err))
		}
	}
	if job.images != nil {
		lock, err := lockOf(ctx, job.src, desc)
		if err != nil {
			return nil, &Error{Op: "images", Location: job.srcName, Err: err}
		}
		if lock == nil {
			res.NoImagesLock = true
		} else if res.Images, err = t.images(ctx, lock, job.images); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// imagesAt is where the images of an artifact read at src are read: at
// their own registries when src is a registry (static credentials stay
// with src's registry), else in the layout or tar itself.
func imagesAt(src Location, target oras.ReadOnlyTarget, remote pull.RemoteOptions) imageSource {
	if src.Kind != KindRegistry {
		return func(imagelock.Reference) (oras.ReadOnlyTarget, string, error) { return target, src.String(), nil }
	}
	remote = remote.BindCredentials(src.Ref.Registry)
	return func(ref imagelock.Reference) (oras.ReadOnlyTarget, string, error) {
		repo, err := pull.NewRepository(pull.Reference{Registry: ref.Domain, Repository: ref.Path}, remote)
		if err != nil {
			return nil, "", err
		}
		return repo, SchemeRegistry + ref.Name(), nil
	}
}

// Open opens loc for reading the way Mirror reads a source: a registry
// repository, an OCI layout directory, or a layout tar file (checked, then
// read in place). Nothing is created. release frees what Open holds.
func Open(ctx context.Context, loc Location, remote pull.RemoteOptions) (target oras.ReadOnlyTarget, release func(), err error) {
	s, err := openSource(ctx, loc, Options{Remote: remote})
	if err != nil {
		return nil, nil, &Error{Op: "open", Location: loc.String(), Err: err}
	}
	return s.target, s.close, nil
}

// Resolve returns the manifest loc names in target (opened by Open), as
// Mirror resolves its source: a registry without tag or digest means
// pull.DefaultTag, a layout or tar without either its only tag.
func Resolve(ctx context.Context, target oras.ReadOnlyTarget, loc Location) (ocispec.Descriptor, error) {
	_, desc, err := resolveSource(ctx, target, loc)
	if err != nil {
		return ocispec.Descriptor{}, &Error{Op: "resolve", Location: loc.String(), Err: err}
	}
	return desc, nil
}

// openSource opens loc for reading. Nothing is created.
func openSource(ctx context.Context, loc Location, opts Options) (source, error) {
	switch loc.Kind {
	case KindRegistry:
		repo, err := pull.NewRepository(loc.Ref, opts.Remote)
		if err != nil {
			return source{}, err
		}
		return source{target: repo, close: func() {}}, nil
	case KindLayout:
		store, closeRoot, roots, err := openLayoutIndexed(ctx, loc.Path)
		if err != nil {
			return source{}, err
		}
		return source{target: store, close: closeRoot, index: roots}, nil
	case KindTar:
		store, roots, err := openTarIndexed(ctx, loc.Path)
		if err != nil {
			return source{}, err
		}
		return source{target: store, close: func() {}, index: roots}, nil
	}
	return source{}, fmt.Errorf("%w: unknown location kind %d", errdef.ErrInvalidReference, loc.Kind)
}

// signatureTag matches the tags cosign and the referrers tag fallback use
// ("sha256-<hex>", "sha256-<hex>.sig", ".att", ".sbom"): never the tag a
// user means.
var signatureTag = regexp.MustCompile(`^(sha256|sha384|sha512)-[0-9a-f]+(\.[a-z]+)?$`)

// resolveSource resolves loc at src and returns the tag to carry (empty
// for a bare digest) and the manifest descriptor. A registry without tag
// or digest means pull.DefaultTag; a layout without either means its only
// tag.
func resolveSource(ctx context.Context, src oras.ReadOnlyTarget, loc Location) (string, ocispec.Descriptor, error) {
	ref := pull.Reference{Tag: loc.Tag, Digest: loc.Digest}
	if ref.IsBare() {
		switch loc.Kind {
		case KindRegistry:
			ref = ref.WithDefaultTag()
		default:
			tag, err := onlyTag(ctx, src)
			if err != nil {
				return "", ocispec.Descriptor{}, err
			}
			ref.Tag = tag
		}
	}
	desc, err := pull.Resolve(ctx, src, ref)
	if err != nil {
		var pe *pull.Error
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if ref.Digest == "" {
			return "", ocispec.Descriptor{}, fmt.Errorf("tag %q: %w", ref.Tag, err)
		}
		return "", ocispec.Descriptor{}, fmt.Errorf("digest %s: %w", ref.Digest, err)
	}
	return ref.Tag, desc, nil
}

// onlyTag returns the one tag a layout holds, not counting signature tags
// and the names of a transfer's entries (repository:tag, repository@digest),
// which are not tags.
func onlyTag(ctx context.Context, src oras.ReadOnlyTarget) (string, error) {
	lister, ok := src.(registry.TagLister)
	if !ok {
		return "", fmt.Errorf("%w: name a tag or digest", errdef.ErrInvalidReference)
	}
	var tags []string
	err := lister.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if !signatureTag.MatchString(t) && validTag(t) == nil {
				tags = append(tags, t)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list tags: %w", err)
	}
	switch len(tags) {
	case 0:
		return "", fmt.Errorf("%w: the layout holds no tag; name a digest", errdef.ErrNotFound)
	case 1:
		return tags[0], nil
	}
	const shown = 5
	if len(tags) > shown {
		tags = append(tags[:shown], "...")
	}
	return "", fmt.Errorf("%w: the layout holds several tags (%s); name one", errdef.ErrInvalidReference, strings.Join(tags, ", "))
}

// CheckContent reads every blob of the graph desc roots in target (opened
// by Open): the manifest, its config and layers, or an index, its
// manifests and theirs, and checks each against its digest and size while
// it streams, with pull's caps. Verifying signatures proves only that the
// manifest digest was signed; a layout or tar file read in place can still
// hold other bytes under a layer's name, and only this check finds them.
// A blob that does not match wraps errdef.ErrDigestMismatch or
// errdef.ErrSizeMismatch; a missing one errdef.ErrNotFound. Nothing is
// kept: the bytes are read and dropped.
func CheckContent(ctx context.Context, target oras.ReadOnlyTarget, loc Location, desc ocispec.Descriptor) error {
	if err := pull.Fetch(ctx, target, desc, discard{}, pull.FetchOptions{}); err != nil {
		return &Error{Op: "check", Location: loc.String(), Err: err}
	}
	return nil
}

// discard is a target that holds nothing: every blob pushed to it is read
// to its end (so the reader's checks run) and dropped.
type discard struct{}

func (discard) Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
	return nil, fmt.Errorf("discard target holds nothing: %w", errdef.ErrNotFound)
}

func (discard) Exists(context.Context, ocispec.Descriptor) (bool, error) { return false, nil }

func (discard) Push(_ context.Context, _ ocispec.Descriptor, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (discard) Resolve(context.Context, string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("discard target holds nothing: %w", errdef.ErrNotFound)
}

func (discard) Tag(context.Context, ocispec.Descriptor, string) error { return nil }
