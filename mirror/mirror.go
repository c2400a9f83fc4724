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
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

// Options configure Mirror. The zero value copies between registries over
// HTTPS with the default credentials, without checking signatures.
type Options struct {
	// Remote is how both registries are reached (auth, TLS, plain HTTP).
	Remote pull.RemoteOptions
	// Policy, when set, must hold for the digest at the source before
	// anything is written; in verify.Audit mode a failed verdict is
	// reported in Result.Verdict and the mirror goes on.
	Policy *verify.Policy
}

// Result says what Mirror carried.
type Result struct {
	// Source and Destination are the locations as given.
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Digest is the manifest digest copied, the same at both ends.
	Digest string `json:"digest"`
	// Tag is the tag given to the digest at the destination, if any.
	Tag string `json:"tag,omitempty"`
	// Signatures is the number of legacy signatures (layers of the
	// "sha256-<hex>.sig" manifest) copied.
	Signatures int `json:"signatures"`
	// Referrers is the number of sigstore bundle referrer manifests copied.
	Referrers int `json:"referrers"`
	// Verdict is the verdict at the source, when Options.Policy was set.
	Verdict *verify.Verdict `json:"verdict,omitempty"`
}

// Error is a failed mirror step at one location.
type Error struct {
	// Op is the step: "open", "resolve", "verify" (at the source, or at
	// the destination after the copy), "signatures" (reading them at the
	// source), "copy" (to the destination; the cause names the source),
	// "write" (publishing a tar file) or "check" (CheckContent).
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
}

// destination is an opened destination location.
type destination struct {
	target oras.Target
	// commit makes what was written visible (a tar file); nil otherwise.
	commit func() error
	// cleanup removes the working files behind commit; nil otherwise.
	cleanup func()
}

// Mirror copies the artifact src names, and its signatures, to dst. It
// resolves src to a digest once, checks it against opts.Policy when one is
// set (writing nothing when it fails), finds the digest's signatures with
// verify.Discover, copies the digest's graph, the legacy signature manifest
// and the signature bundle referrers, and, when the policy held at src,
// checks that it holds at dst too. Only then does it tag the digest at dst
// with dst's tag or else src's, check that dst resolves to the same digest,
// and write a tar file: a failure before leaves no tag at dst.
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

	if opts.Policy != nil {
		v, err := verify.Verify(ctx, s.target, desc, *opts.Policy)
		res.Verdict = &v
		if err != nil {
			return srcErr("verify", err)
		}
	}
	sigs, err := verify.Discover(ctx, s.target, desc)
	if err != nil {
		return srcErr("signatures", err)
	}
	if err := checkLegacyLayers(cosignfmt.LegacySignatureTag(desc.Digest), sigs.Legacy); err != nil {
		return srcErr("signatures", err)
	}

	d, err := openDestination(ctx, dst, opts)
	if err != nil {
		return dstErr("open", err)
	}
	if d.cleanup != nil {
		defer d.cleanup()
	}
	// Content and signatures first, checked where they landed, and only
	// then the tag: a failure on the way leaves the destination without a
	// tag that names an artifact whose signatures are missing there.
	if err := pull.Fetch(ctx, s.target, desc, d.target, pull.FetchOptions{}); err != nil {
		return dstErr("copy", fmt.Errorf("from %s: %w", res.Source, err))
	}
	if res.Signatures, res.Referrers, err = copySignatures(ctx, s.target, d.target, desc, sigs); err != nil {
		return dstErr("copy", fmt.Errorf("from %s: %w", res.Source, err))
	}
	if res.Verdict != nil && res.Verdict.Verified {
		// What the source proved must hold where it was copied to, before
		// it is tagged there or a tar file is published.
		v, err := verify.Verify(ctx, d.target, desc, *opts.Policy)
		if err == nil && !v.Verified {
			err = fmt.Errorf("%w: %s", errdef.ErrSignatureInvalid, v.Reason)
		}
		if err != nil {
			return dstErr("verify", fmt.Errorf("the copied signatures do not verify: %w", err))
		}
	}
	if tag != "" {
		if err := d.target.Tag(ctx, desc, tag); err != nil {
			return dstErr("copy", fmt.Errorf("tag %s as %q: %w", desc.Digest, tag, err))
		}
	}
	key := desc.Digest.String()
	if tag != "" {
		key = tag
	}
	got, err := d.target.Resolve(ctx, key)
	if err != nil {
		return dstErr("copy", fmt.Errorf("resolve %s after copying: %w", key, err))
	}
	if got.Digest != desc.Digest {
		return dstErr("copy", fmt.Errorf("%w: %s resolves to %s, the source holds %s", errdef.ErrDigestMismatch, key, got.Digest, desc.Digest))
	}
	if d.commit != nil {
		if err := d.commit(); err != nil {
			return dstErr("write", err)
		}
	}
	return res, nil
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
		store, closeRoot, err := openLayoutSource(ctx, loc.Path)
		if err != nil {
			return source{}, err
		}
		return source{target: store, close: closeRoot}, nil
	case KindTar:
		store, err := openTarSource(ctx, loc.Path)
		if err != nil {
			return source{}, err
		}
		return source{target: store, close: func() {}}, nil
	}
	return source{}, fmt.Errorf("%w: unknown location kind %d", errdef.ErrInvalidReference, loc.Kind)
}

// openDestination opens loc for writing: a registry repository, a layout
// directory (created when missing), or a temporary layout that becomes a
// tar file on commit.
func openDestination(ctx context.Context, loc Location, opts Options) (destination, error) {
	switch loc.Kind {
	case KindRegistry:
		repo, err := pull.NewRepository(loc.Ref, opts.Remote)
		if err != nil {
			return destination{}, err
		}
		return destination{target: repo}, nil
	case KindLayout:
		store, err := openLayoutDestination(ctx, loc.Path)
		if err != nil {
			return destination{}, err
		}
		return destination{target: store}, nil
	case KindTar:
		t, err := openTarDestination(ctx, loc.Path)
		if err != nil {
			return destination{}, err
		}
		return destination{target: t, commit: t.commit, cleanup: t.cleanup}, nil
	}
	return destination{}, fmt.Errorf("%w: unknown location kind %d", errdef.ErrInvalidReference, loc.Kind)
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

// onlyTag returns the one tag a layout holds, not counting signature tags.
func onlyTag(ctx context.Context, src oras.ReadOnlyTarget) (string, error) {
	lister, ok := src.(registry.TagLister)
	if !ok {
		return "", fmt.Errorf("%w: name a tag or digest", errdef.ErrInvalidReference)
	}
	var tags []string
	err := lister.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if !signatureTag.MatchString(t) {
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
