package push

import (
	"archive/tar"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/render"
)

// extraFile is a generated file packed with the tree: the images lock. It
// sits in a top-level directory of its own and is written where a walk of
// the tree would have found it, so the archive keeps its order.
type extraFile struct {
	dir     string // the top-level directory, e.g. ".sealift"
	name    string // the path inside the archive
	data    []byte
	written bool
}

// writeBefore writes e (its directory, then the file) when the top-level
// entry next would come after it, or at the end (next ""). A tree that
// holds e's directory itself is refused: the generated file would be
// ambiguous. A nil e does nothing.
func (e *extraFile) writeBefore(tw *tar.Writer, next string) error {
	if e == nil || e.written {
		return nil
	}
	if next == e.dir {
		return fmt.Errorf("the tree holds %s, which --images-lock writes: %w; remove it or leave out --images-lock", e.dir, fs.ErrExist)
	}
	if next != "" && next < e.dir {
		return nil
	}
	e.written = true
	if err := writeHeader(tw, e.dir, true, false, 0); err != nil {
		return err
	}
	if err := writeHeader(tw, e.name, false, false, int64(len(e.data))); err != nil {
		return err
	}
	_, err := tw.Write(e.data)
	return err
}

// lockImages renders the packed layer as the engine would (at each of
// opts.ImagesPaths), asks opts.ImagesLock for the lock of the objects, and
// returns it with the file to pack.
func lockImages(ctx context.Context, layer []byte, opts Options) (*imagelock.Lock, *extraFile, error) {
	objs, err := renderLayer(ctx, layer, opts.ImagesPaths)
	if err != nil {
		return nil, nil, fmt.Errorf("images lock: %w", err)
	}
	lock, err := opts.ImagesLock(ctx, objs)
	if err != nil {
		return nil, nil, fmt.Errorf("images lock: %w", err)
	}
	data, err := imagelock.Marshal(lock)
	if err != nil {
		return nil, nil, fmt.Errorf("images lock: %w", err)
	}
	// The lock returned is the one packed: entries sorted, checked.
	packed, err := imagelock.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("images lock: %w", err)
	}
	dir, _, _ := strings.Cut(imagelock.Path, "/")
	return packed, &extraFile{dir: dir, name: imagelock.Path, data: data}, nil
}

// renderLayer extracts layer into a scratch directory the way the engine
// extracts an artifact and renders it at each path (the root when none).
func renderLayer(ctx context.Context, layer []byte, paths []string) ([]*unstructured.Unstructured, error) {
	a, err := assemble(MediaTypeFluxContent, layer, Options{})
	if err != nil {
		return nil, err
	}
	store := memory.New()
	if err := a.pushBlobs(ctx, store); err != nil {
		return nil, err
	}
	if err := pushBlob(ctx, store, a.manifest, a.manifestJSON); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "sealift-push-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "artifact")
	if err := render.Extract(ctx, store, a.manifest, dir, render.ExtractOptions{}); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		paths = []string{""}
	}
	var objs []*unstructured.Unstructured
	for _, p := range paths {
		got, err := render.Render(ctx, dir, render.Options{Path: p})
		if err != nil {
			where := p
			if where == "" {
				where = "the root"
			}
			return nil, fmt.Errorf("render %s of the packed content: %w", where, err)
		}
		objs = append(objs, got...)
	}
	return objs, nil
}
