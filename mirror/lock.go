package mirror

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/render"
)

// lockOf reads the images lock of the artifact desc in src: the artifact is
// extracted as the engine extracts it (render.Extract: every blob checked
// against its digest, sizes and entries capped, no links) into a scratch
// directory, and its imagelock.Path parsed. nil when it holds none.
func lockOf(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) (*imagelock.Lock, error) {
	work, err := os.MkdirTemp("", "sealift-mirror-lock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "artifact")
	if err := render.Extract(ctx, src, desc, dir, render.ExtractOptions{}); err != nil {
		return nil, fmt.Errorf("read the images lock of %s: %w", desc.Digest, err)
	}
	lock, err := render.ReadImagesLock(dir)
	if err != nil {
		return nil, fmt.Errorf("read the images lock of %s: %w", desc.Digest, err)
	}
	return lock, nil
}
