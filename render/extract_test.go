package render_test

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

// assertNothingLeft fails if the destination or a temporary directory beside
// it exists.
func assertNothingLeft(t testing.TB, dest string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(dest))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind after a failed extract: %s", e.Name())
	}
}

func TestExtractShapes(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		build func(t *testing.T, b blobs) ocispec.Descriptor
		want  map[string]string
	}{
		"flux layer": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, dir("."), dir("base"), reg("base/a.yaml", "a"), reg("b.yaml", "b"))))
				return b.Manifest(t, push.MediaTypeFluxConfig, l)
			},
			want: map[string]string{"base/": "", "base/a.yaml": "a", "b.yaml": "b"},
		},
		"plain tar without directory entries": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(ocispec.MediaTypeImageLayer, tarball(t, reg("./x/y/z.yaml", "z"), dir("x")))
				return b.Manifest(t, "application/vnd.oci.empty.v1+json", l)
			},
			want: map[string]string{"x/": "", "x/y/": "", "x/y/z.yaml": "z"},
		},
		"union of layers sharing directories": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l1 := b.Add(ocispec.MediaTypeImageLayerGzip, gz(t, tarball(t, dir("."), dir("apps"), reg("apps/a.yaml", "a"))))
				l2 := b.Add(ocispec.MediaTypeImageLayerGzip, gz(t, tarball(t, dir("."), dir("apps"), reg("apps/b.yaml", "b"))))
				return b.Manifest(t, "application/vnd.timoni.config.v1+json", l1, l2)
			},
			want: map[string]string{"apps/": "", "apps/a.yaml": "a", "apps/b.yaml": "b"},
		},
		"helm chart with provenance": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(render.MediaTypeHelmChart, gz(t, tarball(t, reg("chart/Chart.yaml", "name: c"))))
				p := b.Add("application/vnd.cncf.helm.chart.provenance.v1.prov", []byte("sig"))
				return b.Manifest(t, "application/vnd.cncf.helm.config.v1+json", l, p)
			},
			want: map[string]string{"chart/": "", "chart/Chart.yaml": "name: c"},
		},
		"oras files": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				f1 := b.Add(ocispec.MediaTypeImageLayer, []byte("kind: A\n")) // oras's default file media type
				f1.Annotations = map[string]string{ocispec.AnnotationTitle: "a.yaml"}
				f2 := b.Add("application/yaml", []byte("kind: B\n"))
				f2.Annotations = map[string]string{ocispec.AnnotationTitle: "sub/b.yaml"}
				return b.Manifest(t, "application/vnd.oci.empty.v1+json", f1, f2)
			},
			want: map[string]string{"a.yaml": "kind: A\n", "sub/": "", "sub/b.yaml": "kind: B\n"},
		},
		"oras directory": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(ocispec.MediaTypeImageLayerGzip, gz(t, tarball(t, dir("app/"), reg("app/a.yaml", "a"))))
				l.Annotations = map[string]string{ocispec.AnnotationTitle: "app", "io.deis.oras.content.unpack": "true"}
				return b.Manifest(t, "application/vnd.oci.empty.v1+json", l)
			},
			want: map[string]string{"app/": "", "app/a.yaml": "a"},
		},
		"titled tar+gzip is an archive": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(ocispec.MediaTypeImageLayerGzip, gz(t, tarball(t, reg("a.yaml", "a"))))
				l.Annotations = map[string]string{ocispec.AnnotationTitle: "manifests.tar.gz"}
				return b.Manifest(t, "application/vnd.oci.empty.v1+json", l)
			},
			want: map[string]string{"a.yaml": "a"},
		},
		"index holding one artifact and an attestation": {
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a.yaml", "a"))))
				m := b.Manifest(t, push.MediaTypeFluxConfig, l)
				att := b.Manifest(t, "application/vnd.oci.image.config.v1+json")
				att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
				return b.Index(t, m, att)
			},
			want: map[string]string{"a.yaml": "a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := blobs{}
			desc := tc.build(t, b)
			dest := filepath.Join(t.TempDir(), "out")
			if err := render.Extract(ctx, b, desc, dest, render.ExtractOptions{}); err != nil {
				t.Fatal(err)
			}
			got := readTree(t, dest)
			if len(got) != len(tc.want) {
				t.Errorf("tree %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (tree %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestExtractRejects(t *testing.T) {
	ctx := context.Background()
	layer := func(files ...file) func(t *testing.T, b blobs) ocispec.Descriptor {
		return func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, files...))))
		}
	}
	tests := map[string]struct {
		build   func(t *testing.T, b blobs) ocispec.Descriptor
		opts    render.ExtractOptions
		wantErr error
		naming  string
	}{
		"absolute path":       {build: layer(reg("/etc/passwd", "x")), wantErr: errdef.ErrUnsafePath, naming: "/etc/passwd"},
		"dot dot":             {build: layer(reg("../evil.yaml", "x")), wantErr: errdef.ErrUnsafePath, naming: "../evil.yaml"},
		"dot dot inside":      {build: layer(reg("a/../../evil", "x")), wantErr: errdef.ErrUnsafePath, naming: "a/../../evil"},
		"dot dot that cleans": {build: layer(reg("a/../b", "x")), wantErr: errdef.ErrUnsafePath, naming: "a/../b"},
		"backslash":           {build: layer(reg(`..\evil`, "x")), wantErr: errdef.ErrUnsafePath, naming: "evil"},
		"volume":              {build: layer(reg("C:evil", "x")), wantErr: errdef.ErrUnsafePath, naming: "C:evil"},
		"symlink":             {build: layer(file{Name: "link", Type: tar.TypeSymlink, Linkname: "/etc"}), wantErr: errdef.ErrUnsafePath, naming: "link"},
		"symlink then write":  {build: layer(file{Name: "d", Type: tar.TypeSymlink, Linkname: "/tmp"}, reg("d/x", "x")), wantErr: errdef.ErrUnsafePath, naming: "d"},
		"hard link":           {build: layer(reg("a", "x"), file{Name: "b", Type: tar.TypeLink, Linkname: "/etc/passwd"}), wantErr: errdef.ErrUnsafePath, naming: `"b"`},
		"char device":         {build: layer(file{Name: "null", Type: tar.TypeChar}), wantErr: errdef.ErrUnsafePath, naming: "null"},
		"fifo":                {build: layer(file{Name: "pipe", Type: tar.TypeFifo}), wantErr: errdef.ErrUnsafePath, naming: "pipe"},
		"duplicate file":      {build: layer(reg("a.yaml", "1"), reg("a.yaml", "2")), wantErr: errdef.ErrUnsafePath, naming: "a.yaml"},
		"duplicate dir":       {build: layer(dir("d"), dir("d")), wantErr: errdef.ErrUnsafePath, naming: `"d"`},
		"dir over file":       {build: layer(reg("a", "1"), dir("a")), wantErr: errdef.ErrUnsafePath, naming: `"a"`},
		"file under file":     {build: layer(reg("a", "1"), reg("a/b", "2")), wantErr: errdef.ErrUnsafePath, naming: "a/b"},
		"root as file":        {build: layer(reg(".", "1")), wantErr: errdef.ErrUnsafePath, naming: `"."`},
		"too many bytes":      {build: layer(reg("a", "1234"), big("bomb", 2<<20)), opts: render.ExtractOptions{MaxBytes: 1 << 20}, wantErr: errdef.ErrSizeExceedsLimit, naming: "bomb"},
		"too many entries":    {build: layer(dir("a"), dir("b"), dir("c")), opts: render.ExtractOptions{MaxFiles: 2}, wantErr: errdef.ErrSizeExceedsLimit},
		"same file two layers": {wantErr: errdef.ErrUnsafePath, naming: "a.yaml", build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l1 := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a.yaml", "1"))))
			l2 := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a.yaml", "2"))))
			return b.Manifest(t, push.MediaTypeFluxConfig, l1, l2)
		}},
		"bytes capped across layers": {opts: render.ExtractOptions{MaxBytes: 100}, wantErr: errdef.ErrSizeExceedsLimit, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l1 := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, big("a", 60))))
			l2 := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, big("b", 60))))
			return b.Manifest(t, push.MediaTypeFluxConfig, l1, l2)
		}},
		"not gzip": {wantErr: errdef.ErrInvalidManifest, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, tarball(t, reg("a", "1"))))
		}},
		"truncated archive": {wantErr: errdef.ErrInvalidManifest, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			data := gz(t, tarball(t, reg("a", strings.Repeat("x", 4096))))
			return b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, data[:len(data)/2]))
		}},
		"layer digest mismatch": {wantErr: errdef.ErrDigestMismatch, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "good"))))
			b[l.Digest] = gz(t, tarball(t, reg("a", "evil")))
			return b.Manifest(t, push.MediaTypeFluxConfig, l)
		}},
		"layer with trailing data": {wantErr: errdef.ErrSizeMismatch, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "good"))))
			b[l.Digest] = append(b[l.Digest], make([]byte, 1024)...)
			return b.Manifest(t, push.MediaTypeFluxConfig, l)
		}},
		"manifest digest mismatch": {wantErr: errdef.ErrDigestMismatch, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1")))))
			data := []byte(strings.Replace(string(b[m.Digest]), `"schemaVersion":2`, `"schemaVersion":2 `, 1))
			b[m.Digest] = data[:m.Size]
			return m
		}},
		"docker image layer": {wantErr: errdef.ErrUnsupportedMediaType, naming: "application/vnd.docker.image.rootfs.diff.tar.gzip", build: func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Manifest(t, "application/vnd.docker.container.image.v1+json", b.Add("application/vnd.docker.image.rootfs.diff.tar.gzip", []byte("x")))
		}},
		"content next to an unknown layer": {wantErr: errdef.ErrUnsupportedMediaType, naming: "application/x-secret", build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1"))))
			return b.Manifest(t, push.MediaTypeFluxConfig, l, b.Add("application/x-secret", []byte("x")))
		}},
		"no layers": {wantErr: errdef.ErrUnsupportedMediaType, naming: "application/vnd.cncf.flux.config.v1+json", build: func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Manifest(t, push.MediaTypeFluxConfig)
		}},
		"index of two manifests": {wantErr: errdef.ErrUnsupportedMediaType, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m1 := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1")))))
			m2 := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "2")))))
			return b.Index(t, m1, m2)
		}},
		"index of an index": {wantErr: errdef.ErrUnsupportedMediaType, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1")))))
			return b.Index(t, b.Index(t, m))
		}},
		"config as root": {wantErr: errdef.ErrUnsupportedMediaType, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Add(push.MediaTypeFluxConfig, []byte(`{"schemaVersion":2}`))
		}},
		"oras file traversal": {wantErr: errdef.ErrUnsafePath, naming: "../evil.yaml", build: titled("../evil.yaml", "x", 0)},
		"oras file absolute":  {wantErr: errdef.ErrUnsafePath, naming: "/etc/cron.d/x", build: titled("/etc/cron.d/x", "x", 0)},
		"oras file too big":   {wantErr: errdef.ErrSizeExceedsLimit, opts: render.ExtractOptions{MaxBytes: 4}, build: titled("a.yaml", "12345", 0)},
		"oras file too long":  {wantErr: errdef.ErrSizeMismatch, build: titled("a.yaml", "12345", 3)},
		"oras files colliding": {wantErr: errdef.ErrUnsafePath, naming: "a.yaml", build: func(t *testing.T, b blobs) ocispec.Descriptor {
			f1 := b.Add("application/yaml", []byte("1"))
			f1.Annotations = map[string]string{ocispec.AnnotationTitle: "a.yaml"}
			f2 := b.Add("application/yaml", []byte("2"))
			f2.Annotations = map[string]string{ocispec.AnnotationTitle: "./a.yaml"}
			return b.Manifest(t, "application/vnd.oci.empty.v1+json", f1, f2)
		}},
		"missing layer": {wantErr: errdef.ErrNotFound, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1"))))
			delete(b, l.Digest)
			return b.Manifest(t, push.MediaTypeFluxConfig, l)
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := blobs{}
			desc := tc.build(t, b)
			dest := filepath.Join(t.TempDir(), "out")
			err := render.Extract(ctx, b, desc, dest, tc.opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.naming) {
				t.Errorf("error %q does not name %s", err, tc.naming)
			}
			var pe *render.Error
			if !errors.As(err, &pe) || pe.Op != "extract" || pe.Ref != desc.Digest.String() {
				t.Errorf("error is not a *render.Error for extract of %s: %#v", desc.Digest, err)
			}
			assertNothingLeft(t, dest)
		})
	}
}

// titled builds an ORAS-style single-file artifact named name; a non-zero
// size overrides the descriptor's.
func titled(name, body string, size int64) func(t *testing.T, b blobs) ocispec.Descriptor {
	return func(t *testing.T, b blobs) ocispec.Descriptor {
		l := b.Add("application/yaml", []byte(body))
		if size != 0 {
			l.Size = size
		}
		l.Annotations = map[string]string{ocispec.AnnotationTitle: name}
		return b.Manifest(t, "application/vnd.oci.empty.v1+json", l)
	}
}

func TestExtractDestination(t *testing.T) {
	ctx := context.Background()
	b := blobs{}
	desc := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(render.MediaTypeFluxContent, gz(t, tarball(t, reg("a.yaml", "a")))))

	t.Run("empty existing dir is replaced", func(t *testing.T) {
		dest := t.TempDir()
		if err := render.Extract(ctx, b, desc, dest, render.ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := readTree(t, dest); got["a.yaml"] != "a" {
			t.Errorf("tree %v", got)
		}
	})
	t.Run("non-empty dir is refused and kept", func(t *testing.T) {
		dest := t.TempDir()
		if err := os.WriteFile(filepath.Join(dest, "keep"), []byte("k"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := render.Extract(ctx, b, desc, dest, render.ExtractOptions{})
		if !errors.Is(err, os.ErrExist) {
			t.Fatalf("err = %v", err)
		}
		got := readTree(t, dest)
		if len(got) != 1 || got["keep"] != "k" {
			t.Errorf("destination changed: %v", got)
		}
	})
	t.Run("missing parents are created", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "x", "y")
		if err := render.Extract(ctx, b, desc, dest, render.ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(dest)
		if err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("dest %v, %v", info, err)
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Add(tarball(f, dir("."), reg("a.yaml", "a")), false)
	f.Add(gz(f, tarball(f, dir("."), dir("d"), reg("d/b.yaml", "b"))), true)
	f.Add(tarball(f, reg("../x", "x")), false)
	f.Add(tarball(f, file{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}), false)
	f.Add(gz(f, tarball(f, reg("a", "1"), reg("a", "2"))), true)
	f.Fuzz(func(t *testing.T, data []byte, gzipped bool) {
		b := blobs{}
		mt := ocispec.MediaTypeImageLayer
		if gzipped {
			mt = ocispec.MediaTypeImageLayerGzip
		}
		desc := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(mt, data))
		dest := filepath.Join(t.TempDir(), "out")
		err := render.Extract(context.Background(), b, desc, dest, render.ExtractOptions{MaxBytes: 1 << 20, MaxFiles: 1000})
		if err != nil {
			assertNothingLeft(t, dest)
			return
		}
		// Whatever was accepted is a plain tree of files and directories
		// inside dest (readTree fails on anything else).
		tree := readTree(t, dest)
		names := make([]string, 0, len(tree))
		for k := range tree {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, n := range names {
			if strings.HasPrefix(n, "..") || strings.HasPrefix(n, "/") {
				t.Errorf("escaped: %s", n)
			}
		}
	})
}
