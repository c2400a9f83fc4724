package imagelock

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// The lock file's place in an artifact and its header.
const (
	// Path is where an artifact holds its images lock, relative to the
	// artifact's root. Hidden directories are not rendered, so the lock is
	// never read as a manifest.
	Path = ".sealift/images.yaml"
	// APIVersion and Kind head every lock.
	APIVersion = "sealift.dev/v1alpha1"
	Kind       = "ImagesLock"
)

// Media types an image's digest may name.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// mediaTypes are the manifest and index media types a lock may record.
var mediaTypes = []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerList}

// IsIndex reports whether mediaType is a multi-platform index (OCI image
// index or Docker manifest list).
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == mediaTypeDockerList
}

// Lock is an artifact's images lock: every container image its manifests
// run, each pinned to the digest it resolved to at push time.
type Lock struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Images     []Image `json:"images"`
}

// Image is one locked image reference.
type Image struct {
	// Image is the reference exactly as the manifests write it.
	Image string `json:"image"`
	// Digest is the manifest or index digest it resolved to; for a
	// reference written with a digest, that digest. Empty only when
	// Unresolved.
	Digest string `json:"digest,omitempty"`
	// MediaType is the media type the registry served for Digest: an index
	// stays an index, so every platform is carried and pulled.
	MediaType string `json:"mediaType,omitempty"`
	// Size is the byte size of the manifest or index at Digest.
	Size int64 `json:"size,omitempty"`
	// Unresolved is set when the reference could not be resolved at push
	// time and was recorded as written (push --allow-unresolved). Digest
	// is then the written digest, if any.
	Unresolved bool `json:"unresolved,omitempty"`
}

// Reference is the image's normalised reference.
func (i Image) Reference() (Reference, error) { return ParseReference(i.Image) }

// Descriptor is the manifest or index descriptor the entry pins. ok is false
// for an entry without digest, media type or size (Unresolved).
func (i Image) Descriptor() (desc ocispec.Descriptor, ok bool) {
	if i.Digest == "" || i.MediaType == "" || i.Size <= 0 {
		return ocispec.Descriptor{}, false
	}
	return ocispec.Descriptor{MediaType: i.MediaType, Digest: digest.Digest(i.Digest), Size: i.Size}, true
}

// New returns an empty lock with its header set.
func New() *Lock { return &Lock{APIVersion: APIVersion, Kind: Kind, Images: []Image{}} }

// Marshal encodes l as YAML with its entries sorted by Image, so the same
// images always give the same bytes (the artifact's digest depends on them).
// The result is checked as Parse would check it.
func Marshal(l *Lock) ([]byte, error) {
	out := Lock{APIVersion: APIVersion, Kind: Kind, Images: slices.Clone(l.Images)}
	if out.Images == nil {
		out.Images = []Image{}
	}
	slices.SortFunc(out.Images, func(a, b Image) int { return strings.Compare(a.Image, b.Image) })
	if err := out.check(); err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode images lock: %w", err)
	}
	if int64(len(b)) > limits.MaxImagesLockBytes {
		return nil, fmt.Errorf("%w: images lock of %d images is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, len(out.Images), len(b), limits.MaxImagesLockBytes)
	}
	return b, nil
}

// Parse decodes and checks an images lock read from an artifact: at most
// limits.MaxImagesLockBytes and limits.MaxLockedImages entries; the header
// APIVersion and Kind; unknown or duplicate fields refused; each entry an
// image reference that parses, written once, with a valid digest unless it
// is Unresolved, and a manifest or index media type when it has one.
// Failures wrap errdef.ErrInvalidManifest (errdef.ErrSizeExceedsLimit for
// the caps) and name the entry.
func Parse(data []byte) (*Lock, error) {
	if int64(len(data)) > limits.MaxImagesLockBytes {
		return nil, fmt.Errorf("%w: images lock is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, len(data), limits.MaxImagesLockBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: images lock is empty", errdef.ErrInvalidManifest)
	}
	var l Lock
	if err := yaml.UnmarshalStrict(data, &l); err != nil {
		return nil, fmt.Errorf("%w: images lock: %v", errdef.ErrInvalidManifest, err)
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return &l, nil
}

// check is what Parse checks after decoding.
func (l *Lock) check() error {
	if l.APIVersion != APIVersion || l.Kind != Kind {
		return fmt.Errorf("%w: images lock: want apiVersion %s and kind %s, got %q and %q", errdef.ErrInvalidManifest, APIVersion, Kind, l.APIVersion, l.Kind)
	}
	if len(l.Images) > limits.MaxLockedImages {
		return fmt.Errorf("%w: images lock lists %d images, at most %d", errdef.ErrSizeExceedsLimit, len(l.Images), limits.MaxLockedImages)
	}
	seen := make(map[string]bool, len(l.Images))
	for i, img := range l.Images {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: images lock entry %d (%q): %s", errdef.ErrInvalidManifest, i, img.Image, fmt.Sprintf(format, args...))
		}
		ref, err := ParseReference(img.Image)
		if err != nil {
			return bad("%v", err)
		}
		if seen[img.Image] {
			return bad("listed twice")
		}
		seen[img.Image] = true
		if img.Digest != "" {
			if err := digest.Digest(img.Digest).Validate(); err != nil {
				return bad("digest %q: %v", img.Digest, err)
			}
		}
		if ref.Digest != "" && img.Digest != ref.Digest {
			return bad("the reference is pinned to %s but the entry records %q", ref.Digest, img.Digest)
		}
		if img.MediaType != "" && !slices.Contains(mediaTypes, img.MediaType) {
			return bad("media type %q is not an image manifest or index", img.MediaType)
		}
		if img.Size < 0 {
			return bad("negative size %d", img.Size)
		}
		if img.Unresolved {
			if ref.Digest == "" && img.Digest != "" {
				return bad("an unresolved tag has no digest")
			}
			continue
		}
		if img.Digest == "" || img.MediaType == "" || img.Size == 0 {
			return bad("a resolved entry needs digest, mediaType and size (or unresolved: true)")
		}
		if img.Size > limits.MaxManifestBytes {
			return bad("size %d is over the %d bytes a manifest may have", img.Size, limits.MaxManifestBytes)
		}
	}
	return nil
}

// Index finds lock entries for image references.
type Index struct {
	exact    map[string]Image
	byKey    map[string]Image
	byDigest map[string]Image
}

// NewIndex indexes l's entries by the reference as written, by the
// normalised key (Reference.Key), so "nginx:1.25" and
// "docker.io/library/nginx:1.25" find the same entry, and by the locked
// name@digest, so a reference pinned to a digest the lock holds for its
// repository finds that entry. l must have passed Parse or Marshal.
func NewIndex(l *Lock) *Index {
	x := &Index{exact: map[string]Image{}, byKey: map[string]Image{}, byDigest: map[string]Image{}}
	if l == nil {
		return x
	}
	for _, img := range l.Images {
		x.exact[img.Image] = img
		ref, err := img.Reference()
		if err != nil {
			continue
		}
		if prev, dup := x.byKey[ref.Key()]; !dup || prev.Unresolved {
			x.byKey[ref.Key()] = img
		}
		if img.Digest != "" {
			k := ref.Name() + "@" + img.Digest
			if prev, dup := x.byDigest[k]; !dup || prev.Unresolved {
				x.byDigest[k] = img
			}
		}
	}
	return x
}

// Lookup returns the entry for image: the one written exactly so, else one
// whose reference normalises to the same key, else, for a reference with a
// digest, one that locked that digest for the same repository.
func (x *Index) Lookup(image string) (Image, bool) {
	if img, ok := x.exact[image]; ok {
		return img, true
	}
	ref, err := ParseReference(image)
	if err != nil {
		return Image{}, false
	}
	if img, ok := x.byKey[ref.Key()]; ok {
		return img, true
	}
	if ref.Digest != "" {
		img, ok := x.byDigest[ref.Name()+"@"+ref.Digest]
		return img, ok
	}
	return Image{}, false
}
