package pull

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Content layer media types, named here for pull's callers; the render
// package decides which layers it extracts.
const (
	// MediaTypeFluxContent is the content layer `flux push artifact` writes.
	MediaTypeFluxContent = "application/vnd.cncf.flux.content.v1.tar+gzip"
	// MediaTypeHelmChart is a Helm chart archive.
	MediaTypeHelmChart = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// annotationReferenceType marks attestation manifests in build indexes.
const annotationReferenceType = "vnd.docker.reference.type"

// Artifact is the image manifest an artifact's content is read from.
type Artifact struct {
	// Manifest describes the image manifest holding the layers: the
	// descriptor ReadArtifact was given, or the one artifact manifest of the
	// index it named.
	Manifest ocispec.Descriptor
	// Config is the manifest's config descriptor.
	Config ocispec.Descriptor
	// Layers are the manifest's layers, in order, each with a valid digest
	// and a non-negative size; at most limits.MaxLayers.
	Layers []ocispec.Descriptor
}

// ReadArtifact reads the image manifest desc names, or the single artifact
// manifest of the index it names (attestation manifests are ignored), with
// the checks Fetch applies: metadata capped at limits.MaxManifestBytes, size
// and digest verified, shape checked. It does not read the layers.
func ReadArtifact(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (Artifact, error) {
	doc, err := readDocument(ctx, src, desc)
	if err != nil {
		return Artifact{}, err
	}
	manifest := desc
	if doc.Kind == kindIndex {
		if manifest, err = artifactOf(doc); err != nil {
			return Artifact{}, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		if doc, err = readDocument(ctx, src, manifest); err != nil {
			return Artifact{}, err
		}
		if doc.Kind != kindManifest {
			return Artifact{}, fmt.Errorf("%w: index %s holds an index", errdef.ErrUnsupportedMediaType, desc.Digest)
		}
	}
	return Artifact{Manifest: manifest, Config: doc.Config, Layers: doc.Layers}, nil
}

// artifactOf returns the one manifest of an index, ignoring attestations.
func artifactOf(doc *document) (ocispec.Descriptor, error) {
	var found []ocispec.Descriptor
	for _, m := range doc.Manifests {
		if _, ok := m.Annotations[annotationReferenceType]; ok {
			continue
		}
		found = append(found, m)
	}
	if len(found) != 1 {
		types := make([]string, 0, len(found))
		for _, m := range found {
			types = append(types, m.MediaType)
		}
		return ocispec.Descriptor{}, fmt.Errorf("%w: want an index holding one artifact manifest, found %d %v", errdef.ErrUnsupportedMediaType, len(found), types)
	}
	return found[0], nil
}

// OpenBlob fetches the blob desc names from src, refusing descriptors that
// cannot name content and blobs over limits.MaxLayerBytes. The reader checks
// the blob against desc as it streams: it never yields more than desc.Size
// bytes, and where io.EOF would be it returns an error wrapping
// errdef.ErrSizeMismatch or errdef.ErrDigestMismatch when the blob does not
// match. Read to io.EOF to have the whole blob checked.
func OpenBlob(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := checkDescriptor(desc); err != nil {
		return nil, err
	}
	if desc.Size > limits.MaxLayerBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", errdef.ErrSizeExceedsLimit, desc.Size, limits.MaxLayerBytes)
	}
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, classify(err)
	}
	return newVerifiedReader(rc, desc), nil
}
