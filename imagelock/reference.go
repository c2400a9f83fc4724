package imagelock

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/sealift-dev/sealift/errdef"
)

// DefaultTag is the tag a container runtime pulls for a reference that names
// neither tag nor digest.
const DefaultTag = "latest"

// Reference is a container image reference in its normalised form, as a
// container runtime reads the string a Pod spec holds: a name without a
// registry is on docker.io, and a single-element name there is under
// library/ ("nginx" is docker.io/library/nginx). The tag is kept empty when
// none was written.
type Reference struct {
	// Domain is the registry host, with its port when one was written:
	// docker.io, ghcr.io, localhost:5000, 127.0.0.1:5000.
	Domain string
	// Path is the repository path inside the registry: library/nginx.
	Path string
	// Tag is the tag written, or empty.
	Tag string
	// Digest is the digest written ("sha256:<hex>"), or empty.
	Digest string
}

// ParseReference normalises an image reference the way container runtimes
// do (the docker/distribution grammar): a first path element is a registry
// host only when it holds a '.' or a ':' or is "localhost"; otherwise the
// image is on docker.io, and a single element gets "library/" before it;
// index.docker.io is docker.io. Upper case in the repository, an empty name
// or a malformed tag or digest is refused with errdef.ErrInvalidReference
// naming the input.
func ParseReference(s string) (Reference, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Reference{}, fmt.Errorf("%w: image %q: empty, or surrounded by spaces", errdef.ErrInvalidReference, s)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: image %q: %v", errdef.ErrInvalidReference, s, err)
	}
	r := Reference{Domain: reference.Domain(named), Path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		if err := d.Digest().Validate(); err != nil {
			return Reference{}, fmt.Errorf("%w: image %q: digest: %v", errdef.ErrInvalidReference, s, err)
		}
		r.Digest = d.Digest().String()
	}
	return r, nil
}

// Name is the repository, domain/path: docker.io/library/nginx.
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String is the normalised reference: name, then ":tag" and "@digest" when
// set.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Key is what a runtime pulls: name@digest when a digest is written (the tag
// is then ignored), else name:tag, with DefaultTag when no tag is written.
// Two references with the same key name the same image.
func (r Reference) Key() string {
	if r.Digest != "" {
		return r.Name() + "@" + r.Digest
	}
	return r.Name() + ":" + r.ResolveTag()
}

// ResolveTag is the tag to resolve when there is no digest: the tag written,
// else DefaultTag.
func (r Reference) ResolveTag() string {
	if r.Tag == "" {
		return DefaultTag
	}
	return r.Tag
}

// WithDigest returns r pinned to d at name: the tag is dropped, so what a
// runtime pulls is exactly d.
func (r Reference) WithDigest(d string) Reference {
	r.Tag, r.Digest = "", d
	return r
}
