package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/object"
)

// ImageOptions relocate the image references of rendered objects
// (Options.Images), by the digests of the artifact's images lock.
type ImageOptions struct {
	// Mirrors are the relocation rules (imagelock.NewMirrors).
	Mirrors imagelock.Mirrors
	// RequireLocked refuses every object running an image the lock does
	// not pin (mode enforce): the error, an *ImagesNotLockedError wrapping
	// errdef.ErrImageNotLocked, names each object, field and image, and
	// nothing is returned. Without it such references are relocated with
	// their tag (a matching rule) or left as written.
	RequireLocked bool
	// OnRelocate, when set, is told of every reference rewritten, in
	// object and field order.
	OnRelocate func(Relocation)
}

// Relocation is one image reference rewritten.
type Relocation struct {
	// Object is Kind[.group]/[namespace/]name.
	Object string `json:"object"`
	// Field is e.g. spec.template.spec.containers[0].image.
	Field string `json:"field"`
	// From is the reference as written; To what it was rewritten to.
	From string `json:"from"`
	To   string `json:"to"`
	// Mirror is the To of the rule that moved the reference, empty when no
	// rule matched and the reference was only pinned to its locked digest.
	Mirror string `json:"mirror,omitempty"`
	// Pinned is true when To names the locked digest.
	Pinned bool `json:"pinned"`
}

// ImagesNotLockedError lists the image references that the artifact's
// images lock does not pin, with ImageOptions.RequireLocked.
type ImagesNotLockedError struct {
	// NoLock is set when the artifact holds no lock at all.
	NoLock bool
	// Images are the references refused, in object and field order.
	Images []imagelock.Use
}

func (e *ImagesNotLockedError) Error() string {
	var b strings.Builder
	if e.NoLock {
		fmt.Fprintf(&b, "the artifact holds no images lock (%s; push it with --images-lock), so none of its %d image reference(s) can be relocated by digest:", imagelock.Path, len(e.Images))
	} else {
		fmt.Fprintf(&b, "%d image reference(s) are not pinned by the artifact's images lock (%s); nobody signed for them:", len(e.Images), imagelock.Path)
	}
	for _, u := range e.Images {
		fmt.Fprintf(&b, "\n  %s %s: %s", u.Object, u.Field, u.Image)
	}
	return b.String()
}

// Unwrap returns errdef.ErrImageNotLocked.
func (e *ImagesNotLockedError) Unwrap() error { return errdef.ErrImageNotLocked }

// ReadImagesLock reads and checks the images lock (imagelock.Path) of the
// tree under root, an extracted artifact; nil when it holds none. The file
// must be a regular file inside root of at most limits.MaxImagesLockBytes.
func ReadImagesLock(root string) (*imagelock.Lock, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readImagesLock(r)
}

// readImagesLock reads the images lock of the tree r holds; nil when there
// is none.
func readImagesLock(r *os.Root) (*imagelock.Lock, error) {
	f, err := r.Open(imagelock.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagelock.Path, pathError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagelock.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", errdef.ErrUnsafePath, imagelock.Path)
	}
	data, err := fsutil.ReadLimited(f, limits.MaxImagesLockBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagelock.Path, err)
	}
	lock, err := imagelock.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagelock.Path, err)
	}
	return lock, nil
}

// relocator is the transform ImageOptions describe, over one lock.
type relocator struct {
	opts ImageOptions
	lock *imagelock.Lock
}

// Name names the transform in errors.
func (relocator) Name() string { return "relocate images" }

// Transform rewrites every image reference of objs: one the lock pins goes
// to name@digest, at the mirror a rule names or else at its own
// repository; one it does not pin is refused (RequireLocked) or relocated
// with its tag. Refusals are collected over all objects and returned at
// once, before anything is rewritten.
func (r relocator) Transform(_ context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	idx := imagelock.NewIndex(r.lock)
	if r.opts.Mirrors.Len() == 0 && r.lock == nil && !r.opts.RequireLocked {
		return objs, nil
	}
	uses, err := imagelock.Find(objs)
	if err != nil {
		return nil, err
	}
	if r.opts.RequireLocked {
		refused := &ImagesNotLockedError{NoLock: r.lock == nil}
		for _, u := range uses {
			if img, ok := idx.Lookup(u.Image); !ok || img.Digest == "" {
				refused.Images = append(refused.Images, u)
			}
		}
		if len(refused.Images) > 0 {
			return nil, refused
		}
	}
	for _, obj := range objs {
		name := object.KeyOf(obj).String()
		err := imagelock.Walk(obj, func(field, image string) (string, error) {
			rel, err := r.relocate(idx, image)
			if err != nil {
				return "", fmt.Errorf("%s %s: %w", name, field, err)
			}
			if rel.To == image {
				return image, nil
			}
			rel.Object, rel.Field = name, field
			if r.opts.OnRelocate != nil {
				r.opts.OnRelocate(rel)
			}
			return rel.To, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// relocate works out where image goes.
func (r relocator) relocate(idx *imagelock.Index, image string) (Relocation, error) {
	rel := Relocation{From: image, To: image}
	written, err := imagelock.ParseReference(image)
	if err != nil {
		return rel, err
	}
	ref := written
	if img, ok := idx.Lookup(image); ok && img.Digest != "" {
		ref, rel.Pinned = ref.WithDigest(img.Digest), true
	}
	if m, ok := r.opts.Mirrors.Match(ref); ok {
		if ref, err = m.Relocate(ref); err != nil {
			return rel, err
		}
		rel.Mirror = m.To
	} else if ref.Key() == written.Key() {
		return rel, nil // already what the lock pins (or not locked): left as written
	}
	rel.To = ref.String()
	return rel, nil
}
