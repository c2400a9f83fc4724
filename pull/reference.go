package pull

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
)

// Scheme is the optional prefix of an artifact reference.
const Scheme = "oci://"

// DefaultTag is the tag a command may choose for a reference that names
// neither tag nor digest (WithDefaultTag). ParseReference never fills it in,
// so "no tag written" stays distinguishable from ":latest".
const DefaultTag = "latest"

// Reference names an artifact in a registry.
type Reference struct {
	// Registry is host[:port].
	Registry string
	// Repository is the repository path, without the host.
	Repository string
	// Tag is the tag, or empty when none was written; it may be set together
	// with Digest, in which case the digest wins when resolving.
	Tag string
	// Digest is "algorithm:hex", or empty.
	Digest string
}

// ParseReference parses "[oci://]host/repo[:tag][@digest]". The forms are
// host/repo (a bare repository: Tag and Digest empty), host/repo:tag,
// host/repo@digest and host/repo:tag@digest; nothing is defaulted, so a
// caller that needs a tag applies one with WithDefaultTag. Errors wrap
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
	return ref, nil
}

// IsBare reports whether r names a repository only: no tag, no digest.
func (r Reference) IsBare() bool { return r.Tag == "" && r.Digest == "" }

// WithDefaultTag returns r, with DefaultTag when it names neither tag nor
// digest: for commands that read "host/repo" as "host/repo:latest".
func (r Reference) WithDefaultTag() Reference {
	if r.IsBare() {
		r.Tag = DefaultTag
	}
	return r
}

// Repo returns host/repository.
func (r Reference) Repo() string { return r.Registry + "/" + r.Repository }

// String returns host/repo, host/repo:tag, host/repo@digest or
// host/repo:tag@digest.
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
// otherwise the tag; empty for a bare repository.
func (r Reference) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}
