package render

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	// Decompression only (push compresses with the standard library, whose
	// output the layer digests depend on): the same bytes out, faster.
	"github.com/klauspost/compress/gzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
)

// Layer media types Extract reads.
const (
	// MediaTypeFluxContent is the content layer `flux push artifact` writes.
	MediaTypeFluxContent = pull.MediaTypeFluxContent
	// MediaTypeHelmChart is a Helm chart archive.
	MediaTypeHelmChart = pull.MediaTypeHelmChart
	// mediaTypeHelmProvenance is a Helm chart's provenance file; it holds no
	// manifests and is skipped.
	mediaTypeHelmProvenance = "application/vnd.cncf.helm.chart.provenance.v1.prov"
	// annotationUnpack marks a layer ORAS packed from a directory.
	annotationUnpack = "io.deis.oras.content.unpack"
)

// rawFile reports whether a layer is a single file, the way ORAS pushes
// files: it has a title (the file name), is not marked for unpacking, and
// is not typed as a gzipped tar archive. A titled tar+gzip layer is still
// extracted as an archive, the shape other tools push manifests in.
func rawFile(l ocispec.Descriptor) bool {
	return l.Annotations[ocispec.AnnotationTitle] != "" && l.Annotations[annotationUnpack] != "true" && !layerFormats[l.MediaType]
}

// layerFormats maps readable layer media types to whether they are gzipped.
var layerFormats = map[string]bool{
	MediaTypeFluxContent:            true,
	ocispec.MediaTypeImageLayerGzip: true,
	MediaTypeHelmChart:              true,
	ocispec.MediaTypeImageLayer:     false,
}

// ExtractOptions bounds an extraction. The zero value means the defaults
// from package limits.
type ExtractOptions struct {
	// MaxBytes caps the bytes written, over all files (default
	// limits.MaxExtractBytes).
	MaxBytes int64
	// MaxFiles caps the entries read, directories included (default
	// limits.MaxExtractFiles).
	MaxFiles int
}

func (o ExtractOptions) withDefaults() ExtractOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = limits.MaxExtractBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = limits.MaxExtractFiles
	}
	return o
}

// Extract writes the content layers of the artifact manifest names into dir,
// which must not exist or be empty. Layers are unioned in order; a path in
// two layers is an error unless it is a directory in both. Nothing is left
// behind on failure: the content is written to a temporary directory beside
// dir and renamed into place once every layer has been read and verified.
func Extract(ctx context.Context, src content.Fetcher, manifest ocispec.Descriptor, dir string, opts ExtractOptions) error {
	fail := func(err error) error {
		return &Error{Op: "extract", Ref: manifest.Digest.String(), Err: err}
	}
	layers, err := contentLayers(ctx, src, manifest)
	if err != nil {
		return fail(err)
	}
	if err := ensureEmpty(dir); err != nil {
		return fail(err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".extract-")
	if err != nil {
		return fail(err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()

	x := &extractor{root: tmp, opts: opts.withDefaults(), seen: map[string]entry{}, made: map[string]bool{}}
	for i, l := range layers {
		if err := x.layer(ctx, src, i, l); err != nil {
			return fail(fmt.Errorf("layer %s: %w", l.Digest, err))
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail(err)
	}
	if err := ensureEmpty(dir); err != nil {
		return fail(err)
	}
	// An empty dir is replaced; rename cannot replace a non-empty one, so a
	// directory filled meanwhile fails here instead of being merged.
	_ = os.Remove(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	done = true
	return nil
}

// ensureEmpty returns nil if dir does not exist or is an empty directory.
func ensureEmpty(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == nil && len(names) > 0 {
		return fmt.Errorf("destination %s is not empty: %w", dir, os.ErrExist)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("destination %s: %w", dir, err)
	}
	return nil
}

// contentLayers reads the manifest (or the single artifact manifest of an
// index) and returns its readable layers, in order.
func contentLayers(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	a, err := pull.ReadArtifact(ctx, src, desc)
	if err != nil {
		return nil, err
	}
	return selectLayers(a)
}

// selectLayers returns the layers Extract can read, or an error naming every
// media type found when a layer is not one of them or none is present.
func selectLayers(doc pull.Artifact) ([]ocispec.Descriptor, error) {
	var layers []ocispec.Descriptor
	var unknown []string
	for _, l := range doc.Layers {
		if _, ok := layerFormats[l.MediaType]; ok || rawFile(l) {
			layers = append(layers, l)
			continue
		}
		if l.MediaType == mediaTypeHelmProvenance {
			continue
		}
		unknown = append(unknown, l.MediaType)
	}
	if len(unknown) > 0 || len(layers) == 0 {
		found := make([]string, 0, len(doc.Layers))
		for _, l := range doc.Layers {
			found = append(found, l.MediaType)
		}
		readable := make([]string, 0, len(layerFormats))
		for mt := range layerFormats {
			readable = append(readable, mt)
		}
		sort.Strings(readable)
		return nil, fmt.Errorf("%w: config %q, layers %q; readable layers are %q",
			errdef.ErrUnsupportedMediaType, doc.Config.MediaType, found, readable)
	}
	return layers, nil
}

// entry records what an extracted path is and which layer wrote it.
// Implicit directories are parents of entries that had no entry of their own.
type entry struct {
	dir, explicit bool
	layer         int
}

// extractor writes layers under root, tracking limits across layers.
type extractor struct {
	root  string
	opts  ExtractOptions
	seen  map[string]entry
	files int
	bytes int64
	// made lists the directories created under root, so each is made once.
	made map[string]bool
}

// mkdirAll creates dir (a path under root) and its parents once.
func (x *extractor) mkdirAll(dir string) error {
	if x.made[dir] {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	x.made[dir] = true
	return nil
}

// layer fetches one layer, checks it against its descriptor while reading,
// and writes its entries.
func (x *extractor) layer(ctx context.Context, src content.Fetcher, index int, desc ocispec.Descriptor) error {
	rc, err := pull.OpenBlob(ctx, src, desc)
	if err != nil {
		return err
	}
	blob := &drainer{rc}
	defer blob.Close()
	if rawFile(desc) {
		x.files++
		if x.files > x.opts.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", errdef.ErrSizeExceedsLimit, x.opts.MaxFiles)
		}
		hdr := &tar.Header{Name: desc.Annotations[ocispec.AnnotationTitle], Typeflag: tar.TypeReg, Size: desc.Size, Mode: 0o644}
		if err := x.entry(blob, hdr, index); err != nil {
			if verr := blob.finish(); verr != nil {
				return verr
			}
			return err
		}
		return blob.finish()
	}
	if err := x.untar(ctx, blob, layerFormats[desc.MediaType], index); err != nil {
		// A digest or size failure explains a broken archive better than
		// the archive error does.
		if verr := blob.finish(); verr != nil {
			return verr
		}
		return err
	}
	// Read to the end so the digest covers every byte, including padding
	// after the end-of-archive marker.
	return blob.finish()
}

func (x *extractor) untar(ctx context.Context, r io.Reader, gzipped bool, layer int) error {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return malformed(err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return malformed(err)
		}
		x.files++
		if x.files > x.opts.MaxFiles {
			return fmt.Errorf("%w: more than %d entries", errdef.ErrSizeExceedsLimit, x.opts.MaxFiles)
		}
		if err := x.entry(tr, hdr, layer); err != nil {
			return err
		}
	}
}

// malformed reports an archive that cannot be read. A malformed archive is
// a malformed artifact: terminal.
func malformed(err error) error {
	if errors.Is(err, errdef.ErrDigestMismatch) || errors.Is(err, errdef.ErrSizeMismatch) {
		return err
	}
	return fmt.Errorf("%w: malformed archive: %v", errdef.ErrInvalidManifest, err)
}

func (x *extractor) entry(body io.Reader, hdr *tar.Header, layer int) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	unsafe := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", errdef.ErrUnsafePath, hdr.Name, fmt.Sprintf(format, args...))
	}
	var isDir bool
	switch hdr.Typeflag {
	case tar.TypeDir:
		isDir = true
	case tar.TypeReg: // the reader turns the legacy '\x00' type into TypeReg
	default:
		return unsafe("type %q is not a regular file or directory", string(hdr.Typeflag))
	}
	if name == "." {
		if !isDir {
			return unsafe("the root must be a directory")
		}
		return nil
	}
	if prev, ok := x.seen[name]; ok {
		// Only a directory may repeat: once per layer, or after it was
		// implied by an entry below it.
		if !isDir || !prev.dir || (prev.explicit && prev.layer == layer) {
			return unsafe("duplicate entry")
		}
		x.seen[name] = entry{dir: true, explicit: true, layer: layer}
		return nil
	}
	// Every ancestor must be a directory (or not yet seen).
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if e, ok := x.seen[p]; ok {
			if !e.dir {
				return unsafe("parent %q is a file", p)
			}
			break
		}
	}
	target := filepath.Join(x.root, filepath.FromSlash(name))
	if isDir {
		if err := x.mkdirAll(target); err != nil {
			return err
		}
		x.markDirs(path.Dir(name), layer)
		x.seen[name] = entry{dir: true, explicit: true, layer: layer}
		return nil
	}
	if hdr.Size < 0 || hdr.Size > x.opts.MaxBytes-x.bytes {
		return fmt.Errorf("%w: %q would exceed %d extracted bytes", errdef.ErrSizeExceedsLimit, hdr.Name, x.opts.MaxBytes)
	}
	if err := x.mkdirAll(filepath.Dir(target)); err != nil {
		return err
	}
	x.markDirs(path.Dir(name), layer)
	x.seen[name] = entry{layer: layer}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	n, err := fsutil.Copy(f, body)
	x.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return malformed(err)
	}
	return nil
}

// markDirs records name and its ancestors as implicit directories.
func (x *extractor) markDirs(name string, layer int) {
	for p := name; p != "."; p = path.Dir(p) {
		if _, ok := x.seen[p]; ok {
			return
		}
		x.seen[p] = entry{dir: true, layer: layer}
	}
}

// cleanName turns an archive entry name into a clean slash path relative to
// the root, or rejects it: empty names, absolute paths, Windows volumes,
// backslashes, NUL bytes and any ".." element.
func cleanName(name string) (string, error) {
	unsafe := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", errdef.ErrUnsafePath, name, why)
	}
	switch {
	case name == "":
		return unsafe("empty name")
	case strings.ContainsAny(name, "\\\x00"):
		return unsafe("backslash or NUL in name")
	case strings.HasPrefix(name, "/"):
		return unsafe("absolute path")
	case len(name) >= 2 && name[1] == ':':
		return unsafe("volume name")
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return unsafe("parent directory element")
		}
	}
	return path.Clean(name), nil
}

// drainer is a verified blob reader that can be read to its end, so the
// digest covers every byte.
type drainer struct{ io.ReadCloser }

// finish drains what is left of the blob (at most its declared size) and
// returns nil only if the whole blob matched its descriptor.
func (d *drainer) finish() error {
	_, err := io.Copy(io.Discard, d)
	return err
}
