package render

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2/content"
)

// ArtifactOptions tunes FromArtifact. The zero value extracts and renders
// with the defaults.
type ArtifactOptions struct {
	// Extract bounds the extraction.
	Extract ExtractOptions
	// Render tunes the rendering of the extracted tree.
	Render Options
	// TempDir is where the scratch directory is made; "" means
	// os.TempDir().
	TempDir string
}

// FromArtifact extracts the artifact desc names from src (a cache, a
// registry, an OCI layout: any content fetcher) into a scratch directory,
// renders it, and removes the directory. Extraction errors are *Error
// values; rendering errors are Render's.
func FromArtifact(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, opts ArtifactOptions) ([]*unstructured.Unstructured, error) {
	work, err := os.MkdirTemp(opts.TempDir, "sealift-render-")
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", desc.Digest, err)
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "artifact")
	if err := Extract(ctx, src, desc, dir, opts.Extract); err != nil {
		return nil, err
	}
	objs, err := Render(ctx, dir, opts.Render)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", desc.Digest, err)
	}
	return objs, nil
}
