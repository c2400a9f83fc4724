package imagebuild

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RefNameAnnotation names an entry of an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes idx as the one entry of a fresh OCI layout at dir
// (whatever dir held is removed first), named tag, and returns idx's
// descriptor.
func WriteLayout(dir, tag string, idx v1.ImageIndex) (v1.Descriptor, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: %w", err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: write layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag})); err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: write layout %s: %w", dir, err)
	}
	return Descriptor(idx)
}

// Push writes idx to ref (host/repository:tag) with the credentials of the
// Docker config; insecure allows plain HTTP (ggcr already uses it for
// localhost and 127.0.0.1).
func Push(ctx context.Context, ref string, idx v1.ImageIndex, insecure bool) (v1.Descriptor, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, append(opts, name.StrictValidation)...)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: image reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: push %s: %w", ref, err)
	}
	return Descriptor(idx)
}

// Descriptor returns the descriptor of idx.
func Descriptor(idx v1.ImageIndex) (v1.Descriptor, error) {
	d, err := partial.Descriptor(idx)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("imagebuild: %w", err)
	}
	return *d, nil
}

// Size returns the bytes a registry stores for idx: the index, each
// manifest and config, and each distinct layer (compressed), counted once.
func Size(idx v1.ImageIndex) (int64, error) {
	seen := map[v1.Hash]bool{}
	total, err := idx.Size()
	if err != nil {
		return 0, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return 0, err
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return 0, err
		}
		m, err := img.Manifest()
		if err != nil {
			return 0, err
		}
		total += d.Size + m.Config.Size
		for _, l := range m.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				total += l.Size
			}
		}
	}
	return total, nil
}
