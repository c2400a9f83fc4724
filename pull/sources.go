package pull

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/internal/errdef"
)

// Source is one place an artifact can be read from: the primary repository
// or a mirror of it.
type Source struct {
	// Name identifies the source in errors and reports, e.g. host/repo.
	Name string
	// Target reads from it; a *remote.Repository from NewRepository is one.
	Target oras.ReadOnlyTarget
}

// NewSources returns one Source per repository, in the order given, each
// with a client built from opts. Repositories are "[oci://]host/repo"; a
// tag or digest on them is ignored, since what is read is chosen by the
// reference or descriptor handed to ResolveFrom or FetchFrom. List mirrors
// before the primary to prefer them.
func NewSources(repos []string, opts RemoteOptions) ([]Source, error) {
	if len(repos) == 0 {
		return nil, fmt.Errorf("%w: no repositories", errdef.ErrInvalidReference)
	}
	sources := make([]Source, 0, len(repos))
	for _, s := range repos {
		ref, err := ParseReference(s)
		if err != nil {
			return nil, err
		}
		repo, err := NewRepository(ref, opts)
		if err != nil {
			return nil, err
		}
		sources = append(sources, Source{Name: ref.Repo(), Target: repo})
	}
	return sources, nil
}

// ResolveFrom resolves ref (its tag or digest; its repository is ignored)
// at each source in turn and returns the first answer and the name of the
// source that gave it. A source that does not have the reference or cannot
// be reached is skipped; any other failure (a digest that does not match,
// a descriptor over the limits) stops the search and names the source.
//
// A tag is only as trustworthy as the source that resolves it: mirrors may
// lag or lie about tags, so verify the signature of the digest returned
// before using it. A digest resolves the same everywhere or not at all.
func ResolveFrom(ctx context.Context, sources []Source, ref Reference) (ocispec.Descriptor, string, error) {
	var failures []error
	for _, s := range sources {
		desc, err := Resolve(ctx, s.Target, ref)
		if err == nil {
			return desc, s.Name, nil
		}
		err = &MirrorError{Source: s.Name, Err: err}
		if errdef.IsTerminal(err) {
			return ocispec.Descriptor{}, "", err
		}
		failures = append(failures, err)
	}
	return ocispec.Descriptor{}, "", allFailed(failures)
}

// FetchFrom copies the graph desc roots into dst from the first source that
// serves all of it, trying the sources in order, and returns that source's
// name. A source that does not have the digest, or cannot be reached, is
// skipped, and what it delivered before failing stays in dst (every blob
// there was verified, so the next source only fills the gaps). A source
// that serves bytes that do not match their digest or size, a malformed
// manifest, or content over the limits stops the fetch with an error
// naming it: different bytes for a digest are an attack or a broken mirror,
// and are never answered by falling back to another source.
func FetchFrom(ctx context.Context, sources []Source, desc ocispec.Descriptor, dst oras.Target) (string, error) {
	var failures []error
	for _, s := range sources {
		err := Fetch(ctx, s.Target, desc, dst)
		if err == nil {
			return s.Name, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		err = &MirrorError{Source: s.Name, Err: err}
		if errdef.IsTerminal(err) {
			return "", err
		}
		failures = append(failures, err)
	}
	return "", allFailed(failures)
}

// MirrorError is a failure at one source.
type MirrorError struct {
	// Source is the name of the source that failed.
	Source string
	// Err is the cause; it wraps an errdef sentinel where one applies.
	Err error
}

func (e *MirrorError) Error() string { return fmt.Sprintf("source %s: %v", e.Source, e.Err) }

// Unwrap returns the cause.
func (e *MirrorError) Unwrap() error { return e.Err }

// allFailed joins the failure of every source. It matches
// errdef.ErrNotFound only when every source lacked the content, so one
// unreachable source keeps the whole failure transient.
func allFailed(failures []error) error {
	if len(failures) == 0 {
		return fmt.Errorf("%w: no sources", errdef.ErrInvalidReference)
	}
	msgs := make([]string, len(failures))
	missing := true
	for i, f := range failures {
		msgs[i] = f.Error()
		missing = missing && errors.Is(f, errdef.ErrNotFound)
	}
	joined := errors.New("every source failed: " + strings.Join(msgs, "; "))
	if missing {
		return fmt.Errorf("%w: %w", errdef.ErrNotFound, joined)
	}
	return joined
}
