package imagelock

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
)

// Resolver answers which manifest or index a reference names. A reference
// with a digest is looked up by that digest.
type Resolver interface {
	Resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, ref Reference) (ocispec.Descriptor, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error) {
	return f(ctx, ref)
}

// RegistryResolver resolves references against their registries with one
// HEAD request each, through the registry client every other sealift
// command uses (credentials from the docker config and its helpers, TLS,
// retries, limits).
type RegistryResolver struct {
	// Remote is how registries are reached. Static credentials go only to
	// the host they are bound to (pull.RemoteOptions.BindCredentials).
	Remote pull.RemoteOptions
	// PlainHTTP lists the registry hosts (host[:port]) reached over plain
	// HTTP; every other one is reached over HTTPS with Remote's TLS
	// material.
	PlainHTTP []string
}

// Resolve HEADs ref's manifest (by digest when it has one, else by its tag
// or DefaultTag) and returns its descriptor. The registry's answer for a
// digest must be that digest.
func (r RegistryResolver) Resolve(ctx context.Context, ref Reference) (ocispec.Descriptor, error) {
	plain := slices.Contains(r.PlainHTTP, ref.Domain)
	pref := pull.Reference{Registry: ref.Domain, Repository: ref.Path, Tag: ref.ResolveTag(), Digest: ref.Digest}
	repo, err := pull.NewRepository(pref, r.Remote.WithPlainHTTP(plain))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return pull.Resolve(ctx, repo, pref)
}

// BuildOptions tune Build. The zero value fails on the first reference
// that cannot be resolved and resolves a few at a time.
type BuildOptions struct {
	// AllowUnresolved records a reference that cannot be resolved as
	// written (Image.Unresolved) instead of failing.
	AllowUnresolved bool
	// Concurrency is how many references are resolved at once; 0 means
	// defaultConcurrency.
	Concurrency int
}

// defaultConcurrency overlaps registry round trips while staying polite.
const defaultConcurrency = 4

// UnresolvedError lists every image reference Build could not resolve.
type UnresolvedError struct {
	Images []ImageError
}

// ImageError is one reference that failed, with the objects that use it.
type ImageError struct {
	Image   string
	Objects []string
	Err     error
}

func (e *UnresolvedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d image reference(s) could not be resolved:", len(e.Images))
	for _, ie := range e.Images {
		fmt.Fprintf(&b, "\n  %s (used by %s): %v", ie.Image, strings.Join(ie.Objects, ", "), ie.Err)
	}
	return b.String()
}

// Unwrap returns the causes, so errors.Is finds their sentinels.
func (e *UnresolvedError) Unwrap() []error {
	errs := make([]error, len(e.Images))
	for i, ie := range e.Images {
		errs[i] = ie.Err
	}
	return errs
}

// Build resolves every image reference of uses (Find) with r and returns
// the lock, one entry per reference as written. Each distinct reference
// is resolved once; a reference written with a digest must resolve to that
// digest. An index stays an index: its digest and media type are recorded,
// never a platform's. A reference that does not parse fails the build.
// References that cannot be resolved are all reported together in an
// *UnresolvedError, naming the objects that use them, unless
// opts.AllowUnresolved records them as written. At most
// limits.MaxLockedImages distinct references are resolved.
func Build(ctx context.Context, uses []Use, r Resolver, opts BuildOptions) (*Lock, error) {
	users := map[string][]string{}
	var images []string
	for _, u := range uses {
		if _, ok := users[u.Image]; !ok {
			images = append(images, u.Image)
		}
		if !slices.Contains(users[u.Image], u.Object) {
			users[u.Image] = append(users[u.Image], u.Object)
		}
	}
	if len(images) > limits.MaxLockedImages {
		return nil, fmt.Errorf("%w: the manifests reference %d distinct images, at most %d", errdef.ErrSizeExceedsLimit, len(images), limits.MaxLockedImages)
	}
	refs := make([]Reference, len(images))
	for i, img := range images {
		ref, err := ParseReference(img)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(users[img], ", "), err)
		}
		refs[i] = ref
	}

	n := opts.Concurrency
	if n <= 0 {
		n = defaultConcurrency
	}
	entries := make([]Image, len(images))
	errs := make([]error, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for i := range images {
		g.Go(func() error {
			desc, err := r.Resolve(gctx, refs[i])
			if err == nil {
				err = checkResolved(refs[i], desc)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs[i] = err
				return nil
			}
			entries[i] = Image{Image: images[i], Digest: desc.Digest.String(), MediaType: desc.MediaType, Size: desc.Size}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var failed UnresolvedError
	for i, err := range errs {
		if err == nil {
			continue
		}
		if opts.AllowUnresolved {
			entries[i] = Image{Image: images[i], Digest: refs[i].Digest, Unresolved: true}
			continue
		}
		failed.Images = append(failed.Images, ImageError{Image: images[i], Objects: users[images[i]], Err: err})
	}
	if len(failed.Images) > 0 {
		return nil, &failed
	}
	l := New()
	l.Images = entries
	return l, nil
}

// checkResolved checks a resolver's answer for ref.
func checkResolved(ref Reference, desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: the registry answered digest %q: %v", errdef.ErrInvalidManifest, desc.Digest, err)
	}
	if ref.Digest != "" && desc.Digest.String() != ref.Digest {
		return fmt.Errorf("%w: the registry answered %s for %s", errdef.ErrDigestMismatch, desc.Digest, ref.Digest)
	}
	if !slices.Contains(mediaTypes, desc.MediaType) {
		return fmt.Errorf("%w: %s is %q, not an image manifest or index", errdef.ErrUnsupportedMediaType, desc.Digest, desc.MediaType)
	}
	if desc.Size <= 0 || desc.Size > limits.MaxManifestBytes {
		return fmt.Errorf("%w: %s is %d bytes", errdef.ErrSizeExceedsLimit, desc.Digest, desc.Size)
	}
	return nil
}
