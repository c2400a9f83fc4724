package pull

import (
	"context"
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Manifest media types sealift reads besides the OCI ones.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// kind is what a manifest-like document is.
type kind int

const (
	kindOther kind = iota
	kindManifest
	kindIndex
)

func kindOf(mediaType string) kind {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return kindManifest
	case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
		return kindIndex
	}
	return kindOther
}

// document is the part of a manifest or index that pull reads.
type document struct {
	Kind      kind
	MediaType string
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
	Manifests []ocispec.Descriptor
}

// rawDocument decodes both manifests and indexes.
type rawDocument struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
}

// parseDocument parses a manifest or index whose descriptor says mediaType
// (empty: take the document's own). It checks the shape, not the content the
// descriptors point to.
func parseDocument(mediaType string, data []byte) (*document, error) {
	var raw rawDocument
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errdef.ErrInvalidManifest, err)
	}
	if raw.SchemaVersion == nil || *raw.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", errdef.ErrInvalidManifest)
	}
	switch {
	case mediaType == "":
		mediaType = raw.MediaType
	case raw.MediaType != "" && raw.MediaType != mediaType:
		return nil, fmt.Errorf("%w: descriptor says %s, document says %s", errdef.ErrInvalidManifest, mediaType, raw.MediaType)
	}
	doc := &document{Kind: kindOf(mediaType), MediaType: mediaType}
	switch doc.Kind {
	case kindManifest:
		if raw.Config == nil || raw.Manifests != nil {
			return nil, fmt.Errorf("%w: %s needs a config and no manifests", errdef.ErrInvalidManifest, mediaType)
		}
		if len(raw.Layers) > limits.MaxLayers {
			return nil, fmt.Errorf("%w: %d layers, at most %d", errdef.ErrSizeExceedsLimit, len(raw.Layers), limits.MaxLayers)
		}
		doc.Config, doc.Layers = *raw.Config, raw.Layers
		if err := checkDescriptor(doc.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		for i, l := range doc.Layers {
			if err := checkDescriptor(l); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
		}
	case kindIndex:
		if raw.Config != nil || raw.Layers != nil {
			return nil, fmt.Errorf("%w: %s holds a config or layers", errdef.ErrInvalidManifest, mediaType)
		}
		if len(raw.Manifests) > limits.MaxLayers {
			return nil, fmt.Errorf("%w: %d manifests in index, at most %d", errdef.ErrSizeExceedsLimit, len(raw.Manifests), limits.MaxLayers)
		}
		doc.Manifests = raw.Manifests
		for i, m := range doc.Manifests {
			if err := checkDescriptor(m); err != nil {
				return nil, fmt.Errorf("manifest %d: %w", i, err)
			}
		}
	default:
		return nil, fmt.Errorf("%w: %q is not a manifest or index", errdef.ErrUnsupportedMediaType, mediaType)
	}
	return doc, nil
}

// checkDescriptor rejects descriptors that cannot name content.
func checkDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: digest %q: %v", errdef.ErrInvalidManifest, d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: negative size %d for %s", errdef.ErrInvalidManifest, d.Size, d.Digest)
	}
	return nil
}

// readDocument fetches desc (capped at limits.MaxManifestBytes, size and
// digest verified) and parses it.
func readDocument(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (*document, error) {
	data, err := readMetadata(ctx, src, desc)
	if err != nil {
		return nil, err
	}
	doc, err := parseDocument(desc.MediaType, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc.Digest, err)
	}
	return doc, nil
}

// readMetadata fetches a small blob, verified, refusing more than
// limits.MaxManifestBytes.
func readMetadata(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if err := checkDescriptor(desc); err != nil {
		return nil, err
	}
	if desc.Size > limits.MaxManifestBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, desc.Digest, desc.Size, limits.MaxManifestBytes)
	}
	data, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return nil, classify(fmt.Errorf("read %s: %w", desc.Digest, err))
	}
	return data, nil
}
