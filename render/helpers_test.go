package render_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// blobs is a content.Fetcher over a map. It does not check what it serves,
// so tests can hand out content that does not match its descriptor, the way
// a hostile registry would.
type blobs map[digest.Digest][]byte

func (b blobs) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	data, ok := b[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// add stores data and returns its descriptor.
func (b blobs) add(mediaType string, data []byte) ocispec.Descriptor {
	d := content.NewDescriptorFromBytes(mediaType, data)
	b[d.Digest] = data
	return d
}

// manifest stores an OCI manifest with the given layers and returns it.
func (b blobs) manifest(t testing.TB, configType string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    b.add(configType, []byte("{}")),
		Layers:    layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b.add(ocispec.MediaTypeImageManifest, data)
}

// index stores an OCI index of the given manifests.
func (b blobs) index(t testing.TB, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.add(ocispec.MediaTypeImageIndex, data)
}

// file is an archive entry for tests.
type file struct {
	name     string
	typ      byte
	body     string
	size     int64 // when non-zero, overrides len(body) and writes zeros
	linkname string
}

func dir(name string) file          { return file{name: name, typ: tar.TypeDir} }
func reg(name, body string) file    { return file{name: name, typ: tar.TypeReg, body: body} }
func big(name string, n int64) file { return file{name: name, typ: tar.TypeReg, size: n} }

func tarball(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		size := int64(len(f.body))
		if f.size > 0 {
			size = f.size
		}
		if f.typ != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: 0o644, Size: size, Linkname: f.linkname}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if f.size > 0 {
			if _, err := io.CopyN(tw, zeros{}, f.size); err != nil {
				t.Fatal(err)
			}
		} else if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
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

// Exists and Resolve make blobs an oras.ReadOnlyTarget; it resolves only
// digest strings.
func (b blobs) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	_, ok := b[desc.Digest]
	return ok, nil
}

func (b blobs) Resolve(_ context.Context, ref string) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, errdef.ErrNotFound)
}
