package pull

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/internal/errdef"
)

// Scheme is the optional prefix of an artifact reference.
const Scheme = "oci://"

// DefaultTag is the tag used when a reference names neither tag nor digest.
const DefaultTag = "latest"

// Reference names an artifact in a registry.
type Reference struct {
	// Registry is host[:port].
	Registry string
	// Repository is the repository path, without the host.
	Repository string
	// Tag is the tag; it may be set together with Digest, in which case the
	// digest wins when resolving.
	Tag string
	// Digest is "algorithm:hex", or empty.
	Digest string
}

// ParseReference parses "[oci://]host/repo[:tag][@digest]". A reference with
// neither tag nor digest gets DefaultTag. Errors wrap
// errdef.ErrInvalidReference and name the input.
func ParseReference(s string) (Reference, error) {
	invalid := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w %q: %s", errdef.ErrInvalidReference, s, fmt.Sprintf(format, args...))
	}
	rest := strings.TrimPrefix(s, Scheme)
	if strings.Contains(rest, "://") {
		return invalid("only the %s scheme is supported", Scheme)
	}
	host, path, ok := strings.Cut(rest, "/")
	if !ok || host == "" || path == "" {
		return invalid("want host/repository[:tag][@digest]")
	}
	ref := Reference{Registry: host}
	if repoTag, dgst, found := strings.Cut(path, "@"); found {
		d, err := digest.Parse(dgst)
		if err != nil {
			return invalid("bad digest %q: %v", dgst, err)
		}
		ref.Digest = d.String()
		path = repoTag
	}
	repo, tag, hasTag := strings.Cut(path, ":")
	if hasTag {
		ref.Tag = tag
		path = repo
	}
	ref.Repository = path

	o := registry.Reference{Registry: ref.Registry, Repository: ref.Repository, Reference: ref.Tag}
	if err := o.ValidateRegistry(); err != nil {
		return invalid("bad registry %q", ref.Registry)
	}
	if err := o.ValidateRepository(); err != nil {
		return invalid("bad repository %q (lower case letters, digits and separators)", ref.Repository)
	}
	if hasTag {
		if err := o.ValidateReferenceAsTag(); err != nil {
			return invalid("bad tag %q", ref.Tag)
		}
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = DefaultTag
	}
	return ref, nil
}

// Repo returns host/repository.
func (r Reference) Repo() string { return r.Registry + "/" + r.Repository }

// String returns host/repo:tag, host/repo@digest or host/repo:tag@digest.
func (r Reference) String() string {
	s := r.Repo()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Reference returns what to resolve in the repository: the digest when set,
// otherwise the tag.
func (r Reference) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}
