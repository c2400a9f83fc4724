package contenttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Blobs is a content fetcher, and an oras.ReadOnlyTarget that resolves no
// tags, over a map. It does not check what it serves.
type Blobs map[digest.Digest][]byte

// Fetch serves the bytes stored under desc's digest, whatever they are.
func (b Blobs) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	data, ok := b[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Exists reports whether desc's digest is stored.
func (b Blobs) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, ok := b[desc.Digest]
	return ok, nil
}

// Resolve resolves nothing: Blobs has no tags.
func (b Blobs) Resolve(_ context.Context, ref string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, errdef.ErrNotFound)
}

// Add stores data and returns its descriptor.
func (b Blobs) Add(mediaType string, data []byte) ocispec.Descriptor {
	d := content.NewDescriptorFromBytes(mediaType, data)
	b[d.Digest] = data
	return d
}

// Manifest stores an OCI manifest with an empty config of configType and
// the given layers, and returns its descriptor.
func (b Blobs) Manifest(t testing.TB, configType string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    b.Add(configType, []byte("{}")),
		Layers:    layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b.Add(ocispec.MediaTypeImageManifest, data)
}

// Index stores an OCI index of the given manifests.
func (b Blobs) Index(t testing.TB, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Add(ocispec.MediaTypeImageIndex, data)
}

// File is an archive entry of any type.
type File struct {
	Name     string
	Type     byte
	Body     string
	Size     int64 // when non-zero, overrides len(Body) and writes zeros
	Linkname string
}

// Dir is a directory entry.
func Dir(name string) File { return File{Name: name, Type: tar.TypeDir} }

// Reg is a regular file holding body.
func Reg(name, body string) File { return File{Name: name, Type: tar.TypeReg, Body: body} }

// Big is a regular file of n zero bytes.
func Big(name string, n int64) File { return File{Name: name, Type: tar.TypeReg, Size: n} }

// Tarball writes files, in order, as a tar archive.
func Tarball(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		size := int64(len(f.Body))
		if f.Size > 0 {
			size = f.Size
		}
		if f.Type != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: 0o644, Size: size, Linkname: f.Linkname}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if f.Size > 0 {
			if _, err := io.CopyN(tw, zeros{}, f.Size); err != nil {
				t.Fatal(err)
			}
		} else if _, err := io.WriteString(tw, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gz compresses data with gzip.
func Gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ReadTree returns path → content for files and path+"/" → "" for
// directories under root, failing on anything else.
func ReadTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel+"/"] = ""
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(data)
		default:
			t.Errorf("extracted %s has type %v", rel, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
