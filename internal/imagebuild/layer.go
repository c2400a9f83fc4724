package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// File is one entry of a layer. Paths are absolute, slash-separated and
// clean; a Dir has no Data.
type File struct {
	Path string
	Mode int64 // permission bits, plus sticky/setgid where wanted
	UID  int
	GID  int
	Dir  bool
	Data []byte
}

// gzipLevel is fixed: another level gives other bytes, so another digest.
const gzipLevel = gzip.BestCompression

// NewLayer writes files into a reproducible gzipped tar layer: entries in
// lexical order, times set to created, no user or group names, and the
// given modes and owners. Parent directories must be listed (withParents
// adds them).
func NewLayer(files []File, created time.Time) (v1.Layer, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for i, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("imagebuild: layer entry %q: want a clean absolute path", f.Path)
		}
		if i > 0 && files[i-1].Path == f.Path {
			return nil, fmt.Errorf("imagebuild: layer entry %q given twice", f.Path)
		}
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.Path, "/"),
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: created,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("imagebuild: layer entry %q: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("imagebuild: layer entry %q: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzipLevel)
	if err != nil {
		return nil, err
	}
	// The header keeps its zero ModTime and empty Name: nothing of the
	// build machine or the clock goes in.
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return newBlobLayer(raw.Bytes(), gz.Bytes()), nil
}

// withParents adds every missing parent directory of files (mode 0755,
// owned by root).
func withParents(files []File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	out := slices.Clone(files)
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/"; dir = path.Dir(dir) {
			if !have[dir] {
				have[dir] = true
				out = append(out, File{Path: dir, Dir: true, Mode: 0o755})
			}
		}
	}
	return out
}

// Files of the base layer.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// baseLayer holds what every image has under its binaries: the CA bundle,
// passwd and group naming the non-root user, its home and /tmp.
func baseLayer(created time.Time) (v1.Layer, error) {
	ca, err := CABundle()
	if err != nil {
		return nil, err
	}
	return NewLayer(withParents([]File{
		{Path: CABundlePath, Mode: 0o644, Data: ca},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: UID, GID: GID},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}), created)
}

// CABundle returns the PEM bundle of the NSS roots in the pinned
// golang.org/x/crypto/x509roots/fallback module, leaving out roots with a
// constraint a PEM file cannot express (a distrust-after date).
func CABundle() ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("imagebuild: the CA bundle module holds no roots")
	}
	return b.Bytes(), nil
}

// blobLayer is a layer computed once and held in memory.
type blobLayer struct {
	raw, gz        []byte
	digest, diffID v1.Hash
}

func newBlobLayer(raw, gz []byte) *blobLayer {
	return &blobLayer{raw: raw, gz: gz, digest: sha(gz), diffID: sha(raw)}
}

func sha(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

func (l *blobLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)     { return int64(len(l.gz)), nil }
func (l *blobLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.gz)), nil
}
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
