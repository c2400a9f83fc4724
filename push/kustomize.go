package push

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// RenderedFile is the name a built kustomization is packed under.
const RenderedFile = "manifests.yaml"

// kustomizationNames are the file names kustomize recognises.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Kustomize builds the kustomization in dir the way the engine does (plugins
// off, remote bases refused, confined to dir, objects validated) and
// returns the objects as one multi-document YAML stream in build order.
func Kustomize(ctx context.Context, dir string) ([]byte, error) {
	found := false
	for _, n := range kustomizationNames {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("kustomize %s: %w: no kustomization.yaml", dir, os.ErrNotExist)
	}
	// deploy.Render builds kustomizations below its root reliably, so the
	// tree is copied one level down into a scratch root holding nothing else:
	// the build stays confined to the copy.
	scratch, err := os.MkdirTemp("", "sealift-kustomize-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	if err := copyTree(ctx, dir, filepath.Join(scratch, kustomizeSubdir)); err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	objs, err := deploy.Render(ctx, scratch, deploy.RenderOptions{Path: kustomizeSubdir})
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("kustomize %s: %w", dir, errors.New("the build holds no objects"))
	}
	var buf bytes.Buffer
	for i, obj := range objs {
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", deploy.ObjectID(obj), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(doc)
	}
	return buf.Bytes(), nil
}

// kustomizeSubdir is where Kustomize copies the tree inside its scratch root.
const kustomizeSubdir = "src"

// copyTree copies the regular files and directories under src to dst,
// skipping version-control directories and refusing anything else, as
// packing does, and capping the bytes copied at limits.MaxExtractBytes.
func copyTree(ctx context.Context, src, dst string) error {
	budget := limits.MaxExtractBytes
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case skipDirs[d.Name()] && p != src:
			if t.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case t.IsDir():
			return os.MkdirAll(target, 0o755)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if budget -= info.Size(); budget < 0 {
				return fmt.Errorf("%w: the tree exceeds %d bytes", errdef.ErrSizeExceedsLimit, limits.MaxExtractBytes)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		default:
			return fmt.Errorf("%w %q: only regular files and directories are built", errdef.ErrUnsafePath, p)
		}
	})
}

// archiveKustomization packs the build of dir's kustomization as the single
// file RenderedFile.
func archiveKustomization(ctx context.Context, dir string) ([]byte, error) {
	data, err := Kustomize(ctx, dir)
	if err != nil {
		return nil, err
	}
	return writeArchive(func(tw *tar.Writer) error {
		if err := writeHeader(tw, RenderedFile, false, false, int64(len(data))); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	})
}
