package push

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	oraserrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Media types of the Flux artifact format.
const (
	// MediaTypeFluxConfig is the config media type; it identifies the artifact.
	MediaTypeFluxConfig = "application/vnd.cncf.flux.config.v1+json"
	// MediaTypeFluxContent is the content layer: a tar+gzip of the tree.
	MediaTypeFluxContent = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// configJSON is the config blob. Consumers identify the artifact by the
// config media type and never read the blob, so it is an empty JSON object.
var configJSON = []byte("{}")

// gzipLevel is fixed so the layer digest never depends on a default that
// might change.
const gzipLevel = gzip.DefaultCompression

// Packed file modes: only the execute bit of a file survives.
const (
	fileMode = 0o644
	execMode = 0o755
	dirMode  = 0o755
)

// skipDirs are version-control directories never packed.
var skipDirs = map[string]bool{".git": true, ".svn": true, ".hg": true}

// Options describes the artifact. The zero value packs with no source or
// revision annotation, created at the Unix epoch, as a Flux content layer.
type Options struct {
	// Source is the org.opencontainers.image.source annotation, e.g. the
	// git remote URL.
	Source string
	// Revision is the org.opencontainers.image.revision annotation, e.g.
	// "main@sha1:<commit>".
	Revision string
	// Annotations are added to the manifest; they override the three above.
	Annotations map[string]string
	// Created is the org.opencontainers.image.created annotation. The zero
	// value means the Unix epoch, so the digest depends on the content alone.
	Created time.Time
	// LayerMediaType is the content layer's media type; it must end in
	// "tar+gzip". Empty means MediaTypeFluxContent; MediaTypeOCILayer makes
	// the artifact readable by tools that expect a plain image layer.
	LayerMediaType string
	// Ignore lists patterns of paths not to pack, on top of the
	// version-control directories always skipped (see parseIgnore for the
	// syntax: a subset of .gitignore).
	Ignore []string
	// Kustomize builds the kustomization in dir (plugins off, confined to
	// dir, as the engine builds one) and packs the result as the single
	// file RenderedFile instead of packing the tree.
	Kustomize bool
	// ImagesLock, when set, locks the container images the artifact runs:
	// it is called with the objects the packed content renders to (see
	// ImagesPaths) and the lock it returns is packed as imagelock.Path, in
	// the reproducible layer, so the artifact's signature covers the image
	// digests. The tree must not hold that path itself.
	ImagesLock func(ctx context.Context, objs []*unstructured.Unstructured) (*imagelock.Lock, error)
	// ImagesPaths are the directories inside the packed content rendered
	// for ImagesLock, as a Sync's spec.path would render them; empty means
	// the root. Objects found under several paths are locked once.
	ImagesPaths []string
}

// MediaTypeOCILayer is the plain OCI tar+gzip layer media type.
const MediaTypeOCILayer = ocispec.MediaTypeImageLayerGzip

// Result is what a push produced, shaped for `-o json`.
type Result struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Tags are the extra tags, after Tag.
	Tags   []string `json:"tags,omitempty"`
	Digest string   `json:"digest"`
	Size   int64    `json:"size"`
	// DryRun is set when nothing was pushed.
	DryRun bool `json:"dryRun,omitempty"`
	// Images are the entries of the images lock packed, with
	// Options.ImagesLock.
	Images []imagelock.Image `json:"images,omitempty"`
}

// Pack archives dir (a directory, or a single file packed as the only file
// of the tree) into a reproducible layer, builds the config and manifest,
// pushes all three into dst and returns the manifest descriptor.
func Pack(ctx context.Context, dir string, opts Options, dst content.Pusher) (ocispec.Descriptor, error) {
	desc, _, err := PackLocked(ctx, dir, opts, dst)
	return desc, err
}

// PackLocked is Pack that also returns the images lock packed (nil without
// opts.ImagesLock).
func PackLocked(ctx context.Context, dir string, opts Options, dst content.Pusher) (ocispec.Descriptor, *imagelock.Lock, error) {
	a, err := build(ctx, dir, opts)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := a.pushBlobs(ctx, dst); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := pushBlob(ctx, dst, a.manifest, a.manifestJSON); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return a.manifest, a.lock, nil
}

// Push packs dir into dst and tags the manifest with tag. A registry gets
// the manifest by tag in one request, as `oras push` does.
func Push(ctx context.Context, dir string, dst oras.Target, tag string, opts Options) (ocispec.Descriptor, error) {
	desc, _, err := PushLocked(ctx, dir, dst, tag, opts)
	return desc, err
}

// PushLocked is Push that also returns the images lock packed (nil without
// opts.ImagesLock).
func PushLocked(ctx context.Context, dir string, dst oras.Target, tag string, opts Options) (ocispec.Descriptor, *imagelock.Lock, error) {
	if tag == "" {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%w: push needs a tag", errdef.ErrInvalidReference)
	}
	a, err := build(ctx, dir, opts)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := a.pushBlobs(ctx, dst); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if rp, ok := dst.(registry.ReferencePusher); ok {
		if err := rp.PushReference(ctx, a.manifest, bytes.NewReader(a.manifestJSON), tag); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("push manifest %s as %q: %w", a.manifest.Digest, tag, err)
		}
		return a.manifest, a.lock, nil
	}
	if err := pushBlob(ctx, dst, a.manifest, a.manifestJSON); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := dst.Tag(ctx, a.manifest, tag); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("tag %s as %q: %w", a.manifest.Digest, tag, err)
	}
	return a.manifest, a.lock, nil
}

// artifact is a packed tree: its layer, config and manifest.
type artifact struct {
	layer, config, manifest ocispec.Descriptor
	layerData, manifestJSON []byte
	// lock is the images lock packed, or nil.
	lock *imagelock.Lock
}

// build packs dir as opts say, in memory.
func build(ctx context.Context, dir string, opts Options) (*artifact, error) {
	layerType := opts.LayerMediaType
	if layerType == "" {
		layerType = MediaTypeFluxContent
	}
	if !strings.HasSuffix(layerType, "tar+gzip") {
		return nil, fmt.Errorf("%w: layer media type %q: the layer is tar+gzip", errdef.ErrUnsupportedMediaType, layerType)
	}
	for k := range opts.Annotations {
		if k == "" {
			return nil, fmt.Errorf("%w: empty annotation key", errdef.ErrInvalidManifest)
		}
	}
	var layer []byte
	var err error
	var rendered []byte
	if opts.Kustomize {
		if len(opts.Ignore) > 0 {
			return nil, errors.New("ignore patterns do not apply to a kustomization: exclude files in the kustomization instead")
		}
		if rendered, err = Kustomize(ctx, dir); err != nil {
			return nil, err
		}
		layer, err = archiveRendered(rendered, nil)
	} else {
		layer, err = archive(ctx, dir, opts.Ignore, nil)
	}
	if err != nil {
		return nil, err
	}
	var lock *imagelock.Lock
	if opts.ImagesLock != nil {
		// The lock is made from what is packed (after ignore patterns, the
		// kustomize build), then packed with it.
		var lockFile *extraFile
		lock, lockFile, err = lockImages(ctx, layer, opts)
		if err != nil {
			return nil, err
		}
		if opts.Kustomize {
			layer, err = archiveRendered(rendered, lockFile)
		} else {
			layer, err = archive(ctx, dir, opts.Ignore, lockFile)
		}
		if err != nil {
			return nil, err
		}
	}
	a, err := assemble(layerType, layer, opts)
	if err != nil {
		return nil, err
	}
	a.lock = lock
	return a, nil
}

// assemble builds the config and manifest around layer.
func assemble(layerType string, layer []byte, opts Options) (*artifact, error) {
	a := &artifact{
		layer:     content.NewDescriptorFromBytes(layerType, layer),
		config:    content.NewDescriptorFromBytes(MediaTypeFluxConfig, configJSON),
		layerData: layer,
	}
	var err error
	manifest := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      a.config,
		Layers:      []ocispec.Descriptor{a.layer},
		Annotations: annotations(opts),
	}
	a.manifestJSON, err = json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	a.manifest = content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, a.manifestJSON)
	return a, nil
}

// pushBlobs pushes the layer and the config, the content the manifest
// points at, which must be in place before the manifest.
func (a *artifact) pushBlobs(ctx context.Context, dst content.Pusher) error {
	if err := pushBlob(ctx, dst, a.layer, a.layerData); err != nil {
		return err
	}
	return pushBlob(ctx, dst, a.config, configJSON)
}

// existenceChecker is the optional ability of a destination to say whether
// it already holds content; a registry answers with a HEAD request.
type existenceChecker interface {
	Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error)
}

// pushBlob pushes data unless dst already has it, so re-pushing unchanged
// content uploads nothing.
func pushBlob(ctx context.Context, dst content.Pusher, desc ocispec.Descriptor, data []byte) error {
	if ec, ok := dst.(existenceChecker); ok {
		if has, err := ec.Exists(ctx, desc); err == nil && has {
			return nil
		}
	}
	err := dst.Push(ctx, desc, bytes.NewReader(data))
	if err != nil && !errors.Is(err, oraserrdef.ErrAlreadyExists) {
		return fmt.Errorf("push %s %s: %w", desc.MediaType, desc.Digest, err)
	}
	return nil
}

// annotations builds the manifest annotations from opts.
func annotations(opts Options) map[string]string {
	created := opts.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	a := map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)}
	if opts.Source != "" {
		a[ocispec.AnnotationSource] = opts.Source
	}
	if opts.Revision != "" {
		a[ocispec.AnnotationRevision] = opts.Revision
	}
	for k, v := range opts.Annotations {
		a[k] = v
	}
	return a
}

// Archive returns the reproducible tar+gzip of dir, or of a single file
// packed as the only file under the root.
func Archive(ctx context.Context, dir string) ([]byte, error) {
	return archive(ctx, dir, nil, nil)
}

// archive packs dir, leaving out what ignore matches, with extra (when not
// nil) at the place the walk would have found it.
func archive(ctx context.Context, dir string, ignore []string, extra *extraFile) ([]byte, error) {
	rules, err := parseIgnore(ignore)
	if err != nil {
		return nil, err
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	return writeArchive(func(tw *tar.Writer) error {
		switch {
		case info.Mode().IsRegular():
			name := filepath.Base(dir)
			if err := extra.writeBefore(tw, name); err != nil {
				return err
			}
			if err := writeFile(tw, dir, name, info); err != nil {
				return err
			}
		case info.IsDir():
			if err := walk(ctx, tw, dir, rules, extra); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w %q: only regular files and directories can be packed", errdef.ErrUnsafePath, dir)
		}
		return extra.writeBefore(tw, "")
	})
}

// writeArchive returns the tar+gzip of the root directory entry followed by
// what body writes, capped at limits.MaxLayerBytes.
func writeArchive(body func(*tar.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&limitedWriter{w: &buf, n: limits.MaxLayerBytes}, gzipLevel)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := writeHeader(tw, ".", true, false, 0); err != nil {
		return nil, err
	}
	if err := body(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// walk writes dir's tree in lexical order, leaving out what rules ignore,
// with extra (when not nil) among the top-level entries in its place.
func walk(ctx context.Context, tw *tar.Writer, dir string, rules []ignoreRule, extra *extraFile) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if skipDirs[d.Name()] || ignored(rules, name, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a .git file (a worktree or submodule pointer), or ignored
		}
		if !strings.Contains(name, "/") {
			if err := extra.writeBefore(tw, name); err != nil {
				return err
			}
		}
		switch t := d.Type(); {
		case t.IsDir():
			return writeHeader(tw, name, true, false, 0)
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return writeFile(tw, p, name, info)
		case t&fs.ModeSymlink != 0:
			return fmt.Errorf("%w %q: symlinks are not packed; copy the target in instead", errdef.ErrUnsafePath, p)
		default:
			return fmt.Errorf("%w %q: only regular files and directories are packed", errdef.ErrUnsafePath, p)
		}
	})
}

func writeHeader(tw *tar.Writer, name string, dir, exec bool, size int64) error {
	hdr := &tar.Header{
		Name:    name,
		Size:    size,
		ModTime: time.Unix(0, 0),
		Uid:     0,
		Gid:     0,
		Uname:   "",
		Gname:   "",
	}
	switch {
	case dir:
		hdr.Typeflag, hdr.Mode = tar.TypeDir, dirMode
	case exec:
		hdr.Typeflag, hdr.Mode = tar.TypeReg, execMode
	default:
		hdr.Typeflag, hdr.Mode = tar.TypeReg, fileMode
	}
	return tw.WriteHeader(hdr)
}

func writeFile(tw *tar.Writer, p, name string, info fs.FileInfo) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeHeader(tw, name, false, info.Mode()&0o111 != 0, info.Size()); err != nil {
		return err
	}
	// Copy exactly the size announced; a file that changes while it is read
	// fails here instead of producing a corrupt archive. The copy buffer is
	// shared: a tree of many small files would otherwise allocate one each.
	n, err := fsutil.Copy(tw, io.LimitReader(f, info.Size()))
	if err == nil && n < info.Size() {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// limitedWriter fails once more than n bytes are written.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("%w: the layer exceeds %d bytes", errdef.ErrSizeExceedsLimit, limits.MaxLayerBytes)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
