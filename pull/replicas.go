package pull

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
)

// Endpoint is one repository an artifact can be read from, and how to
// reach it.
type Endpoint struct {
	// URL is "[oci://]host/repo"; a tag or digest on it is ignored, since
	// what is read is chosen by the reference or descriptor handed to
	// ResolveFrom or FetchFrom.
	URL string
	// PlainHTTP talks HTTP to this repository, and to no other.
	PlainHTTP bool
}

// Replica is one place an artifact can be read from: the canonical
// repository or a mirror of it.
type Replica struct {
	// Name identifies the source in errors and reports, e.g. host/repo.
	Name string
	// Target reads from it; a *remote.Repository from NewRepository is one.
	Target oras.ReadOnlyTarget
	// Canonical marks the repository the artifact is published to: the
	// only source trusted to say which digest a tag or semver range means.
	Canonical bool
}

// NewReplicas returns one Replica per mirror, in the order given, then the
// canonical repository, each with a client built from opts and its own
// endpoint's PlainHTTP (opts.PlainHTTP is not used; TLS material is not
// used for a plain-HTTP endpoint). Static credentials in opts are bound to
// the canonical repository's registry unless opts binds them elsewhere:
// mirrors answer with their own docker-config entries.
func NewReplicas(canonical Endpoint, mirrors []Endpoint, opts RemoteOptions) ([]Replica, error) {
	cref, err := ParseReference(canonical.URL)
	if err != nil {
		return nil, fmt.Errorf("canonical repository: %w", err)
	}
	opts = opts.BindCredentials(cref.Registry)
	replicas := make([]Replica, 0, len(mirrors)+1)
	for _, e := range append(mirrors[:len(mirrors):len(mirrors)], canonical) {
		ref, err := ParseReference(e.URL)
		if err != nil {
			return nil, err
		}
		repo, err := NewRepository(ref, opts.WithPlainHTTP(e.PlainHTTP))
		if err != nil {
			return nil, err
		}
		replicas = append(replicas, Replica{Name: ref.Repo(), Target: repo})
	}
	replicas[len(replicas)-1].Canonical = true
	return replicas, nil
}

// ResolveOptions select what ResolveFrom resolves besides its reference.
// The zero value resolves the reference's tag or digest.
type ResolveOptions struct {
	// Semver, when set, picks the tag: the highest version satisfying it
	// among the tags of the source that answers (see ResolveSemver). The
	// reference must then name neither tag nor digest.
	Semver string
	// SemverFilter is a regular expression a tag must match to count.
	SemverFilter string
	// Floor, with Semver, is the lowest version accepted: the one last
	// applied for the same range. A source whose best match is older is
	// refused with errdef.ErrRollback.
	Floor string
}

// Resolved is what ResolveFrom found.
type Resolved struct {
	// Descriptor is the manifest or index.
	Descriptor ocispec.Descriptor
	// Tag is the tag resolved: the reference's, or the one Semver picked.
	// Empty when resolving a digest.
	Tag string
	// Replica is the name of the replica that answered.
	Replica string
	// AtMirror is true when a mirror decided which digest a tag or range
	// means because the canonical repository did not answer (air-gapped, or
	// down). Such an answer can be stale or rolled back by whoever runs the
	// mirror; signatures do not tell, since every old release is signed too.
	AtMirror bool
}

// ResolveFrom resolves ref (its tag or digest; its repository is ignored),
// or the tag opts.Semver picks, at replicas.
//
// A tag or semver range is resolved at the canonical source first: when it
// answers, its answer (including "not found", and a refusal to go below
// opts.Floor) is final. Only when it cannot be reached (or refuses access, or
// fails with a server error) are the mirrors asked,
// in order, and the result says so (AtMirror). A digest means the same
// everywhere, so it is resolved at the replicas in their order, mirrors
// first. A source that lacks the reference or cannot be reached is skipped;
// a terminal failure (a digest that does not match, a descriptor over the
// limits) stops the search and names the source.
func ResolveFrom(ctx context.Context, replicas []Replica, ref Reference, opts ResolveOptions) (Resolved, error) {
	var m *semverMatcher
	switch {
	case opts.Semver != "" && !ref.IsBare():
		return Resolved{}, fmt.Errorf("%w: %s: a semver range picks the tag, the reference names one already", errdef.ErrInvalidReference, ref)
	case opts.Semver != "":
		var err error
		if m, err = newSemverMatcher(opts.Semver, opts.SemverFilter); err != nil {
			return Resolved{}, err
		}
		if err := m.setFloor(opts.Floor); err != nil {
			return Resolved{}, err
		}
	case ref.IsBare():
		return Resolved{}, fmt.Errorf("%w: %s: no tag, digest or semver range", errdef.ErrInvalidReference, ref)
	}
	order := replicas
	if ref.Digest == "" {
		order = canonicalFirst(replicas)
	}
	var failures []error
	for _, s := range order {
		res, err := resolveAt(ctx, s, ref, m)
		if err == nil {
			res.AtMirror = ref.Digest == "" && !s.Canonical
			return res, nil
		}
		if ctx.Err() != nil {
			return Resolved{}, err
		}
		err = &ReplicaError{Replica: s.Name, Err: err}
		if errdef.IsTerminal(err) || s.Canonical && ref.Digest == "" && answered(err) {
			return Resolved{}, err
		}
		failures = append(failures, err)
	}
	return Resolved{}, allFailed(failures)
}

// canonicalFirst returns replicas with the canonical ones moved to the front.
func canonicalFirst(replicas []Replica) []Replica {
	order := make([]Replica, 0, len(replicas))
	for _, s := range replicas {
		if s.Canonical {
			order = append(order, s)
		}
	}
	for _, s := range replicas {
		if !s.Canonical {
			order = append(order, s)
		}
	}
	return order
}

// answered reports a failure that is the canonical repository's answer
// rather than its absence: the tag is not there, or it would go back.
func answered(err error) bool {
	return errors.Is(err, errdef.ErrNotFound) || errors.Is(err, errdef.ErrRollback)
}

// resolveAt resolves ref, or the tag m picks, at one source.
func resolveAt(ctx context.Context, s Replica, ref Reference, m *semverMatcher) (Resolved, error) {
	if m != nil {
		lister, ok := s.Target.(registry.TagLister)
		if !ok {
			return Resolved{}, fmt.Errorf("%w: %s cannot list tags", errdef.ErrNotFound, s.Name)
		}
		tag, err := m.resolve(ctx, lister)
		if err != nil {
			return Resolved{}, err
		}
		ref.Tag = tag
	}
	desc, err := Resolve(ctx, s.Target, ref)
	if err != nil {
		return Resolved{}, err
	}
	return Resolved{Descriptor: desc, Tag: ref.Tag, Replica: s.Name}, nil
}

// FetchFrom copies the graph desc roots into dst from the first source that
// serves all of it, trying the replicas in order, and returns that source's
// name. A source that does not have the digest, or cannot be reached, is
// skipped, and what it delivered before failing stays in dst (every blob
// there was verified, so the next source only fills the gaps). A source
// that serves bytes that do not match their digest or size, a malformed
// manifest, or content over the limits stops the fetch with an error
// naming it: different bytes for a digest are an attack or a broken mirror,
// and are never answered by falling back to another source. The byte cap of
// opts applies to each source's attempt.
func FetchFrom(ctx context.Context, replicas []Replica, desc ocispec.Descriptor, dst oras.Target, opts FetchOptions) (string, error) {
	var failures []error
	for _, s := range replicas {
		err := Fetch(ctx, s.Target, desc, dst, opts)
		if err == nil {
			return s.Name, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		err = &ReplicaError{Replica: s.Name, Err: err}
		if errdef.IsTerminal(err) {
			return "", err
		}
		failures = append(failures, err)
	}
	return "", allFailed(failures)
}

// ReplicaError is a failure at one source.
type ReplicaError struct {
	// Replica is the name of the replica that failed.
	Replica string
	// Err is the cause; it wraps an errdef sentinel where one applies.
	Err error
}

func (e *ReplicaError) Error() string { return fmt.Sprintf("replica %s: %v", e.Replica, e.Err) }

// Unwrap returns the cause.
func (e *ReplicaError) Unwrap() error { return e.Err }

// allFailed joins the failure of every source. It matches
// errdef.ErrNotFound only when every source lacked the content, so one
// unreachable source keeps the whole failure transient, and
// errdef.ErrRollback when any source refused to go back.
func allFailed(failures []error) error {
	if len(failures) == 0 {
		return fmt.Errorf("%w: no replicas", errdef.ErrInvalidReference)
	}
	msgs := make([]string, len(failures))
	missing, rollback := true, false
	for i, f := range failures {
		msgs[i] = f.Error()
		missing = missing && errors.Is(f, errdef.ErrNotFound)
		rollback = rollback || errors.Is(f, errdef.ErrRollback)
	}
	e := &sourcesError{msg: "every source failed: " + strings.Join(msgs, "; ")}
	if missing {
		e.sentinels = append(e.sentinels, errdef.ErrNotFound)
	}
	if rollback {
		e.sentinels = append(e.sentinels, errdef.ErrRollback)
	}
	return e
}

// sourcesError is the failure of every source, matching the sentinels
// they share.
type sourcesError struct {
	msg       string
	sentinels []error
}

func (e *sourcesError) Error() string   { return e.msg }
func (e *sourcesError) Unwrap() []error { return e.sentinels }
