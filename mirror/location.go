package mirror

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/pull"
)

// Location schemes.
const (
	// SchemeRegistry prefixes a registry reference: oci://HOST/REPO[:TAG|@DIGEST].
	SchemeRegistry = pull.Scheme
	// SchemeLayout prefixes an OCI image layout directory: oci-layout:DIR[:TAG|@DIGEST].
	SchemeLayout = "oci-layout:"
	// SchemeTar prefixes an OCI image layout packed as a tar file: tar:FILE[:TAG|@DIGEST].
	SchemeTar = "tar:"
)

// Kind is where a Location points.
type Kind int

const (
	// KindRegistry is a repository in a registry.
	KindRegistry Kind = iota + 1
	// KindLayout is an OCI image layout directory.
	KindLayout
	// KindTar is an OCI image layout in a tar file.
	KindTar
)

// Location is one end of a mirror: a registry repository, a layout
// directory or a layout tar file, with an optional tag and digest.
type Location struct {
	Kind Kind
	// Ref is the registry reference (KindRegistry). Its Tag is empty when
	// the string named none.
	Ref pull.Reference
	// Path is the directory (KindLayout) or file (KindTar).
	Path string
	// Tag is the tag named, or empty.
	Tag string
	// Digest is the digest named ("algorithm:hex"), or empty.
	Digest string
}

// ParseLocation parses "oci://HOST/REPO[:TAG][@DIGEST]",
// "oci-layout:DIR[:TAG][@DIGEST]" or "tar:FILE[:TAG][@DIGEST]". For the two
// path forms, a tag is what follows the last ':' after the last '/', and a
// digest what follows the last '@'. Errors wrap errdef.ErrInvalidReference
// and name the input.
func ParseLocation(s string) (Location, error) {
	invalid := func(format string, args ...any) (Location, error) {
		return Location{}, fmt.Errorf("%w %q: %s", errdef.ErrInvalidReference, s, fmt.Sprintf(format, args...))
	}
	switch {
	case strings.HasPrefix(s, SchemeRegistry):
		ref, err := pull.ParseReference(s)
		if err != nil {
			return Location{}, err
		}
		return Location{Kind: KindRegistry, Ref: ref, Tag: ref.Tag, Digest: ref.Digest}, nil
	case strings.HasPrefix(s, SchemeLayout):
		return parsePath(KindLayout, strings.TrimPrefix(s, SchemeLayout), invalid)
	case strings.HasPrefix(s, SchemeTar):
		return parsePath(KindTar, strings.TrimPrefix(s, SchemeTar), invalid)
	}
	return invalid("want %sHOST/REPO[:TAG|@DIGEST], %sDIR[:TAG|@DIGEST] or %sFILE[:TAG|@DIGEST]",
		SchemeRegistry, SchemeLayout, SchemeTar)
}

// parsePath parses "PATH[:TAG][@DIGEST]".
func parsePath(kind Kind, rest string, invalid func(string, ...any) (Location, error)) (Location, error) {
	loc := Location{Kind: kind}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return invalid("bad digest %q: %v", rest[i+1:], err)
		}
		loc.Digest = d.String()
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && i > strings.LastIndex(rest, "/") {
		loc.Tag = rest[i+1:]
		rest = rest[:i]
		if err := validTag(loc.Tag); err != nil {
			return invalid("bad tag %q (letters, digits, '_', '.', '-', at most 128)", loc.Tag)
		}
	}
	if rest == "" {
		return invalid("no path")
	}
	if strings.ContainsRune(rest, 0) {
		return invalid("path holds a NUL byte")
	}
	loc.Path = rest
	return loc, nil
}

// validTag checks tag against the OCI distribution tag grammar.
func validTag(tag string) error {
	r := registry.Reference{Registry: "localhost", Repository: "x", Reference: tag}
	return r.ValidateReferenceAsTag()
}

// String returns the location in the form ParseLocation reads.
func (l Location) String() string {
	var s string
	switch l.Kind {
	case KindRegistry:
		s = SchemeRegistry + l.Ref.Repo()
	case KindLayout:
		s = SchemeLayout + l.Path
	case KindTar:
		s = SchemeTar + l.Path
	default:
		return "<invalid location>"
	}
	if l.Tag != "" {
		s += ":" + l.Tag
	}
	if l.Digest != "" {
		s += "@" + l.Digest
	}
	return s
}
