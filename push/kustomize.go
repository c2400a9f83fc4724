package push

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/render"
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
	// The build runs on dir itself, confined to it: nothing is copied to
	// disk first (render copies the tree into memory once, checked).
	objs, err := render.Render(ctx, dir, render.Options{})
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("kustomize %s: the build holds no objects: %w", dir, errdef.ErrInvalidObject)
	}
	var buf bytes.Buffer
	for i, obj := range objs {
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s/%s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(doc)
	}
	return buf.Bytes(), nil
}

// archiveRendered packs the output of a kustomize build as the single file
// RenderedFile, with extra (when not nil) in its place.
func archiveRendered(data []byte, extra *extraFile) ([]byte, error) {
	return writeArchive(func(tw *tar.Writer) error {
		if err := extra.writeBefore(tw, RenderedFile); err != nil {
			return err
		}
		if err := writeHeader(tw, RenderedFile, false, false, int64(len(data))); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	})
}
