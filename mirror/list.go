package mirror

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
)

// The header of a mirror list file.
const (
	ListAPIVersion = "sealift.dev/v1alpha1"
	ListKind       = "MirrorList"
)

// List is a release to carry in one transfer: a mirror list file.
//
//	apiVersion: sealift.dev/v1alpha1
//	kind: MirrorList
//	artifacts:
//	- repository: registry.example/team/app   # oci:// is optional
//	  tag: 1.4.2                               # or semver: ">=1.4 <2", or digest: sha256:...
//	  images: true                             # also the images its lock pins
//	- repository: registry.example/team/db
//	  semver: "~2.3"
type List struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Artifacts  []ListEntry `json:"artifacts"`
}

// ListEntry is one artifact of a List: a repository and exactly one of
// Tag, Semver or Digest.
type ListEntry struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	// Semver picks the highest tag matching the constraint (and
	// SemverFilter, a regexp a tag must match first).
	Semver       string `json:"semver,omitempty"`
	SemverFilter string `json:"semverFilter,omitempty"`
	Digest       string `json:"digest,omitempty"`
	// Images carries the images the artifact's lock pins too.
	Images bool `json:"images,omitempty"`
}

// Reference is the entry's repository, with its tag or digest when it
// names one (a semver entry's tag is picked at mirror time).
func (e ListEntry) Reference() (pull.Reference, error) {
	ref, err := pull.ParseReference(e.Repository)
	if err != nil {
		return ref, err
	}
	if !ref.IsBare() {
		return ref, fmt.Errorf("%w: repository %q names a tag or digest; give it in tag, semver or digest", errdef.ErrInvalidReference, e.Repository)
	}
	ref.Tag, ref.Digest = e.Tag, e.Digest
	if ref.IsBare() {
		return ref, nil
	}
	return pull.ParseReference(ref.String())
}

// ParseList decodes and checks a mirror list: at most
// limits.MaxMirrorListBytes and limits.MaxMirrorListEntries entries, the
// header, no unknown or duplicate fields, each entry a repository that
// parses with exactly one valid tag, semver constraint or digest, and no
// entry twice. Errors wrap errdef.ErrInvalidManifest (or
// errdef.ErrSizeExceedsLimit) and name the entry.
func ParseList(data []byte) (*List, error) {
	if int64(len(data)) > limits.MaxMirrorListBytes {
		return nil, fmt.Errorf("%w: mirror list is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, len(data), limits.MaxMirrorListBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: mirror list is empty", errdef.ErrInvalidManifest)
	}
	var l List
	if err := yaml.UnmarshalStrict(data, &l); err != nil {
		return nil, fmt.Errorf("%w: mirror list: %v", errdef.ErrInvalidManifest, err)
	}
	if l.APIVersion != ListAPIVersion || l.Kind != ListKind {
		return nil, fmt.Errorf("%w: mirror list: want apiVersion %s and kind %s, got %q and %q", errdef.ErrInvalidManifest, ListAPIVersion, ListKind, l.APIVersion, l.Kind)
	}
	if len(l.Artifacts) == 0 {
		return nil, fmt.Errorf("%w: mirror list names no artifacts", errdef.ErrInvalidManifest)
	}
	if len(l.Artifacts) > limits.MaxMirrorListEntries {
		return nil, fmt.Errorf("%w: mirror list names %d artifacts, at most %d", errdef.ErrSizeExceedsLimit, len(l.Artifacts), limits.MaxMirrorListEntries)
	}
	seen := map[string]bool{}
	for i, e := range l.Artifacts {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: mirror list entry %d (%q): %s", errdef.ErrInvalidManifest, i, e.Repository, fmt.Sprintf(format, args...))
		}
		n := 0
		for _, v := range []string{e.Tag, e.Semver, e.Digest} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return nil, bad("set exactly one of tag, semver and digest")
		}
		if _, err := e.Reference(); err != nil {
			return nil, bad("%v", err)
		}
		if e.SemverFilter != "" && e.Semver == "" {
			return nil, bad("semverFilter needs semver")
		}
		if e.Semver != "" {
			if err := pull.ValidateSemver(e.Semver, e.SemverFilter); err != nil {
				return nil, bad("%v", err)
			}
		}
		key := strings.TrimPrefix(e.Repository, pull.Scheme) + " " + e.Tag + e.Semver + " " + e.SemverFilter + e.Digest
		if seen[key] {
			return nil, bad("listed twice")
		}
		seen[key] = true
	}
	return &l, nil
}
