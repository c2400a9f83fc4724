package mirror

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// maxTarEntries caps the entries of a layout tar read as a source: a
// mirrored artifact is a handful of blobs, and the cap keeps a hostile file
// from growing the in-memory entry table without bound.
const maxTarEntries = limits.MaxExtractFiles

// Modes of what a tar destination holds; owners and times are zero, so the
// same layout always packs to the same bytes.
const (
	tarDirMode  = 0o755
	tarFileMode = 0o644
)

// openLayoutSource opens the layout directory dir read-only through an
// os.Root, after checking its index and graph (checkLayout). The returned
// close releases the root.
func openLayoutSource(ctx context.Context, dir string) (*oci.ReadOnlyStore, func(), error) {
	store, closeRoot, _, err := openLayoutIndexed(ctx, dir)
	return store, closeRoot, err
}

// openLayoutIndexed is openLayoutSource that also returns the entries of
// the layout's index.json.
func openLayoutIndexed(ctx context.Context, dir string) (*oci.ReadOnlyStore, func(), []ocispec.Descriptor, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	fsys := root.FS()
	roots, err := checkLayout(ctx, fsys)
	if err != nil {
		_ = root.Close()
		return nil, nil, nil, err
	}
	store, err := oci.NewFromFS(ctx, fsys)
	if err != nil {
		_ = root.Close()
		return nil, nil, nil, fmt.Errorf("%w: %v", errdef.ErrInvalidManifest, err)
	}
	return store, func() { _ = root.Close() }, roots, nil
}

// openTarSource checks the tar file at name (checkLayoutTar, then
// checkGraph) and opens it in place as a read-only layout.
func openTarSource(ctx context.Context, name string) (*oci.ReadOnlyStore, error) {
	store, _, err := openTarIndexed(ctx, name)
	return store, err
}

// openTarIndexed is openTarSource that also returns the entries of the
// layout's index.json.
func openTarIndexed(ctx context.Context, name string) (*oci.ReadOnlyStore, []ocispec.Descriptor, error) {
	roots, err := checkLayoutTar(name)
	if err != nil {
		return nil, nil, err
	}
	storage, err := oci.NewStorageFromTar(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errdef.ErrInvalidManifest, err)
	}
	if err := checkGraph(ctx, storage, roots); err != nil {
		return nil, nil, err
	}
	store, err := oci.NewFromTar(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errdef.ErrInvalidManifest, err)
	}
	return store, roots, nil
}

// openLayoutDestination opens (creating it when missing) the layout
// directory dir for writing, after checking what it already holds.
func openLayoutDestination(ctx context.Context, dir string) (*oci.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageIndexFile)); err == nil {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		_, err = checkLayout(ctx, root.FS())
		_ = root.Close()
		if err != nil {
			return nil, err
		}
	}
	store, err := oci.NewWithContext(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errdef.ErrInvalidManifest, err)
	}
	return store, nil
}

// checkLayout checks the index.json of the layout fsys with checkIndex,
// reading at most limits.MaxManifestBytes of it, and the graph it roots
// with checkGraph.
func checkLayout(ctx context.Context, fsys fs.FS) ([]ocispec.Descriptor, error) {
	f, err := fsys.Open(ocispec.ImageIndexFile)
	if err != nil {
		return nil, fmt.Errorf("%w: not an OCI layout: %w", errdef.ErrNotFound, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, limits.MaxManifestBytes+1))
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	roots, err := checkIndex(b, func(d digest.Digest) (int64, bool) {
		fi, err := fs.Stat(fsys, blobName(d))
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		return fi.Size(), true
	})
	if err != nil {
		return nil, err
	}
	return roots, checkGraph(ctx, oci.NewStorageFromFS(fsys), roots)
}

// maxIndexEntries caps the entries of a layout's index.json: one per tag
// and per untagged manifest (signatures, referrers) of every artifact it
// holds.
const maxIndexEntries = 10_000

// checkIndex checks a layout's index.json before oras-go reads the graph it
// roots, and returns its entries: at most limits.MaxManifestBytes and
// maxIndexEntries entries, each of at most limits.MaxManifestBytes whose
// blob is there, with that size.
func checkIndex(b []byte, blobSize func(digest.Digest) (int64, bool)) ([]ocispec.Descriptor, error) {
	if int64(len(b)) > limits.MaxManifestBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", errdef.ErrSizeExceedsLimit, ocispec.ImageIndexFile, limits.MaxManifestBytes)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errdef.ErrInvalidManifest, ocispec.ImageIndexFile, err)
	}
	if len(idx.Manifests) > maxIndexEntries {
		return nil, fmt.Errorf("%w: %s lists %d manifests, at most %d", errdef.ErrSizeExceedsLimit, ocispec.ImageIndexFile, len(idx.Manifests), maxIndexEntries)
	}
	for i, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s entry %d: digest %q: %v", errdef.ErrInvalidManifest, ocispec.ImageIndexFile, i, m.Digest, err)
		}
		if m.Size < 0 || m.Size > limits.MaxManifestBytes {
			return nil, fmt.Errorf("%w: %s entry %d (%s) is %d bytes, at most %d",
				errdef.ErrSizeExceedsLimit, ocispec.ImageIndexFile, i, m.Digest, m.Size, limits.MaxManifestBytes)
		}
		size, ok := blobSize(m.Digest)
		if !ok {
			return nil, fmt.Errorf("%w: %s entry %d: blob %s is missing", errdef.ErrInvalidManifest, ocispec.ImageIndexFile, i, m.Digest)
		}
		if size != m.Size {
			return nil, fmt.Errorf("%w: %s entry %d: blob %s is %d bytes, the index says %d",
				errdef.ErrSizeMismatch, ocispec.ImageIndexFile, i, m.Digest, size, m.Size)
		}
	}
	return idx.Manifests, nil
}

// maxGraphNodes caps the manifests and indexes reachable in a layout:
// oras-go reads every one of them, all at once, when it opens the layout.
const maxGraphNodes = 10_000

// graphNode is the part of a manifest or index that names other content.
type graphNode struct {
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Blobs     []ocispec.Descriptor `json:"blobs"`
	Manifests []ocispec.Descriptor `json:"manifests"`
	Subject   *ocispec.Descriptor  `json:"subject"`
}

// checkGraph walks the manifests and indexes reachable from roots in f, as
// oras-go will when it opens the layout, with bounds oras-go does not
// apply: each at most limits.MaxManifestBytes (and verified against its
// digest), at most limits.MaxLayers descriptors in one, at most
// maxGraphNodes in all. Missing content is skipped, as oras-go skips it.
func checkGraph(ctx context.Context, f content.Fetcher, roots []ocispec.Descriptor) error {
	seen := map[digest.Digest]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if !isManifest(d.MediaType) || seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		if len(seen) > maxGraphNodes {
			return fmt.Errorf("%w: the layout holds more than %d manifests", errdef.ErrSizeExceedsLimit, maxGraphNodes)
		}
		if d.Size < 0 || d.Size > limits.MaxManifestBytes {
			return fmt.Errorf("%w: manifest %s is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, d.Digest, d.Size, limits.MaxManifestBytes)
		}
		b, err := content.FetchAll(ctx, f, d)
		if errors.Is(err, oraserr.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: manifest %s: %v", errdef.ErrInvalidManifest, d.Digest, err)
		}
		var n graphNode
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("%w: manifest %s: %v", errdef.ErrInvalidManifest, d.Digest, err)
		}
		next := slices.Concat(n.Layers, n.Blobs, n.Manifests)
		if len(next) > limits.MaxLayers {
			return fmt.Errorf("%w: manifest %s names %d descriptors, at most %d", errdef.ErrSizeExceedsLimit, d.Digest, len(next), limits.MaxLayers)
		}
		if n.Config != nil {
			next = append(next, *n.Config)
		}
		if n.Subject != nil {
			next = append(next, *n.Subject)
		}
		queue = append(queue, next...)
	}
	return nil
}

// isManifest reports the media types oras-go reads as manifests or indexes
// when it indexes a layout's graph.
func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.artifact.manifest.v1+json":
		return true
	}
	return false
}

// blobName is where a layout keeps the blob d.
func blobName(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// checkLayoutTar reads the headers of the tar file at name, without
// extracting anything, and refuses what a layout does not hold: entries
// other than the layout's files and their directories, anything but regular
// files and directories, absolute paths, "..", backslashes, duplicates, more
// than maxTarEntries entries, layout files over limits.MaxManifestBytes and
// blobs over limits.MaxLayerBytes. Its index.json must pass checkIndex.
// Failures wrap errdef.ErrUnsafePath, errdef.ErrSizeExceedsLimit or
// errdef.ErrInvalidManifest.
func checkLayoutTar(name string) ([]ocispec.Descriptor, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return checkLayoutTarStream(f)
}

// checkLayoutTarStream is checkLayoutTar on an open stream; it returns the
// entries of the layout's index.json.
func checkLayoutTarStream(r io.Reader) ([]ocispec.Descriptor, error) {
	tr := tar.NewReader(r)
	sizes := map[string]int64{}
	var index []byte
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a readable tar file: %v", errdef.ErrInvalidManifest, err)
		}
		if n >= maxTarEntries {
			return nil, fmt.Errorf("%w: more than %d entries", errdef.ErrSizeExceedsLimit, maxTarEntries)
		}
		name, err := layoutEntryName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if _, dup := sizes[name]; dup {
			return nil, fmt.Errorf("%w: %q appears twice", errdef.ErrUnsafePath, hdr.Name)
		}
		isDir, limit, err := layoutEntryKind(name)
		if err != nil {
			return nil, err
		}
		switch {
		case hdr.Typeflag == tar.TypeDir && isDir:
		case hdr.Typeflag == tar.TypeReg && !isDir:
			if hdr.Size > limit {
				return nil, fmt.Errorf("%w: %q is %d bytes, at most %d", errdef.ErrSizeExceedsLimit, hdr.Name, hdr.Size, limit)
			}
		default:
			return nil, fmt.Errorf("%w: %q has type %q; a layout holds regular files and directories only", errdef.ErrUnsafePath, hdr.Name, hdr.Typeflag)
		}
		sizes[name] = hdr.Size
		if name == ocispec.ImageIndexFile {
			if index, err = io.ReadAll(io.LimitReader(tr, limits.MaxManifestBytes+1)); err != nil {
				return nil, fmt.Errorf("%w: read %s: %v", errdef.ErrInvalidManifest, ocispec.ImageIndexFile, err)
			}
		}
	}
	if _, ok := sizes[ocispec.ImageLayoutFile]; !ok {
		return nil, fmt.Errorf("%w: no %s file: not an OCI layout", errdef.ErrInvalidManifest, ocispec.ImageLayoutFile)
	}
	if index == nil {
		return nil, fmt.Errorf("%w: no %s file: not an OCI layout", errdef.ErrInvalidManifest, ocispec.ImageIndexFile)
	}
	return checkIndex(index, func(d digest.Digest) (int64, bool) {
		size, ok := sizes[blobName(d)]
		return size, ok
	})
}

// layoutEntryName returns the cleaned name of a tar entry, refusing names
// that could point outside the layout.
func layoutEntryName(raw string) (string, error) {
	if raw == "" || strings.ContainsAny(raw, "\\\x00") || path.IsAbs(raw) {
		return "", fmt.Errorf("%w: entry %q", errdef.ErrUnsafePath, raw)
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q leaves the layout", errdef.ErrUnsafePath, raw)
		}
	}
	return path.Clean(raw), nil
}

// layoutEntryKind says whether the cleaned entry name is one of the
// layout's directories, and the size limit of a file; names a layout does
// not hold wrap errdef.ErrUnsafePath.
func layoutEntryKind(name string) (dir bool, limit int64, err error) {
	switch name {
	case ".", ocispec.ImageBlobsDir:
		return true, 0, nil
	case ocispec.ImageLayoutFile, ocispec.ImageIndexFile:
		return false, limits.MaxManifestBytes, nil
	}
	// Past the cases above, a name under blobs/ has at least two parts.
	if parts := strings.Split(name, "/"); parts[0] == ocispec.ImageBlobsDir && digest.Algorithm(parts[1]).Available() {
		switch len(parts) {
		case 2:
			return true, 0, nil
		case 3:
			if digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2]).Validate() == nil {
				// A transfer may carry container images; each blob is
				// capped again by what copies it (pull.Fetch).
				return false, limits.MaxImageBlobBytes, nil
			}
		}
	}
	return false, 0, fmt.Errorf("%w: %q is outside the OCI layout (oci-layout, index.json, blobs/<algorithm>/<hex>)", errdef.ErrUnsafePath, name)
}

// tarDestination is a layout written in a temporary directory beside the
// tar file it becomes.
type tarDestination struct {
	*oci.Store
	file string
	tmp  string
}

// openTarDestination refuses an existing file and starts a layout in a
// temporary directory beside it.
func openTarDestination(ctx context.Context, file string) (*tarDestination, error) {
	if _, err := os.Lstat(file); err == nil {
		return nil, fmt.Errorf("%w; a mirror never replaces a file", fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(file), "."+filepath.Base(file)+".layout-*")
	if err != nil {
		return nil, err
	}
	store, err := oci.NewWithContext(ctx, tmp)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	return &tarDestination{Store: store, file: file, tmp: tmp}, nil
}

// commit packs the layout into a temporary file beside the destination and
// renames it into place, refusing to replace a file that appeared meanwhile.
func (d *tarDestination) commit() error {
	f, err := os.CreateTemp(filepath.Dir(d.file), "."+filepath.Base(d.file)+".tmp-*")
	if err != nil {
		return err
	}
	tmpFile := f.Name()
	err = writeLayoutTar(f, d.tmp)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A hard link fails when the destination exists, where a rename
		// would silently replace it.
		err = os.Link(tmpFile, d.file)
	}
	_ = os.Remove(tmpFile)
	return err
}

// cleanup removes the temporary layout, committed or not.
func (d *tarDestination) cleanup() { _ = os.RemoveAll(d.tmp) }

// writeLayoutTar packs the layout directory dir into w, its layout files
// and blobs only: entries in lexical order, directories 0755 and files
// 0644, zero times and owners, and index.json rewritten with its entries
// sorted, so the same content always gives the same bytes.
func writeLayoutTar(w io.Writer, dir string) error {
	index, err := canonicalIndex(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if top, _, _ := strings.Cut(name, "/"); top != ocispec.ImageBlobsDir && top != ocispec.ImageLayoutFile && top != ocispec.ImageIndexFile {
			// oras-go's own working files (its ingest directory).
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		hdr := &tar.Header{Name: name, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case e.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", tarDirMode
			return tw.WriteHeader(hdr)
		case !e.Type().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file", errdef.ErrUnsafePath, p)
		case name == ocispec.ImageIndexFile:
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, tarFileMode, int64(len(index))
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err := tw.Write(index)
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, tarFileMode, fi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("pack layout: %w", err)
	}
	return tw.Close()
}

// canonicalIndex reads a layout's index.json and returns it with its
// entries sorted by tag, then digest (oras-go writes them in map order).
func canonicalIndex(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errdef.ErrInvalidManifest, file, err)
	}
	slices.SortFunc(idx.Manifests, func(a, b ocispec.Descriptor) int {
		if c := strings.Compare(a.Annotations[ocispec.AnnotationRefName], b.Annotations[ocispec.AnnotationRefName]); c != 0 {
			return c
		}
		return strings.Compare(a.Digest.String(), b.Digest.String())
	})
	return json.Marshal(idx)
}
