package push_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

// writeTree creates files (path → content) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var sampleTree = map[string]string{
	"deploy.yaml":             "kind: Deployment\n",
	"svc.yaml":                "kind: Service\n",
	"base/kustomization.yaml": "resources: [cm.yaml]\n",
	"base/cm.yaml":            "kind: ConfigMap\n",
	".git/HEAD":               "ref: refs/heads/main\n",
	"sub/.hg/store":           "x",
}

// copyTree copies src into a new temp dir with fresh mtimes.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func pack(t *testing.T, dir string, opts push.Options) (ocispec.Descriptor, *memory.Store) {
	t.Helper()
	store := memory.New()
	desc, err := push.Pack(context.Background(), dir, opts, store)
	if err != nil {
		t.Fatalf("Pack(%s): %v", dir, err)
	}
	return desc, store
}

func TestPackReproducible(t *testing.T) {
	opts := push.Options{Source: "https://git.example/app.git", Revision: "main@sha1:abc"}
	base := writeTree(t, sampleTree)
	want, _ := pack(t, base, opts)

	tests := map[string]struct {
		mutate func(t *testing.T, dir string) string
		same   bool
	}{
		"again": {mutate: func(t *testing.T, dir string) string { return dir }, same: true},
		"changed mtimes": {same: true, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for _, f := range []string{"deploy.yaml", "base", "base/cm.yaml", "."} {
				if err := os.Chtimes(filepath.Join(d, f), old, old); err != nil {
					t.Fatal(err)
				}
			}
			return d
		}},
		"copy elsewhere": {same: true, mutate: func(t *testing.T, dir string) string { return copyTree(t, dir) }},
		"non-exec mode change": {same: true, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			if err := os.Chmod(filepath.Join(d, "svc.yaml"), 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		"new vcs content": {same: true, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			if err := os.WriteFile(filepath.Join(d, ".git", "ORIG_HEAD"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		"content change": {same: false, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			if err := os.WriteFile(filepath.Join(d, "svc.yaml"), []byte("kind: Service2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		"exec bit": {same: false, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			if err := os.Chmod(filepath.Join(d, "svc.yaml"), 0o755); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		"empty dir added": {same: false, mutate: func(t *testing.T, dir string) string {
			d := copyTree(t, dir)
			if err := os.Mkdir(filepath.Join(d, "empty"), 0o700); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _ := pack(t, tc.mutate(t, base), opts)
			if (got.Digest == want.Digest) != tc.same {
				t.Errorf("digest %s vs %s, want same=%v", got.Digest, want.Digest, tc.same)
			}
		})
	}
}

func TestPackOptionsChangeDigest(t *testing.T) {
	dir := writeTree(t, sampleTree)
	base, _ := pack(t, dir, push.Options{})
	for name, opts := range map[string]push.Options{
		"source":      {Source: "s"},
		"revision":    {Revision: "r"},
		"created":     {Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		"annotation":  {Annotations: map[string]string{"k": "v"}},
		"layer media": {LayerMediaType: ocispec.MediaTypeImageLayerGzip},
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := pack(t, dir, opts)
			if got.Digest == base.Digest {
				t.Errorf("option %s did not change the digest", name)
			}
		})
	}
}

type tarEntry struct {
	hdr  tar.Header
	data string
}

func readLayer(t *testing.T, layer []byte) []tarEntry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header carries name %q, time %v, comment %q", zr.Name, zr.ModTime, zr.Comment)
	}
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*hdr, string(data)})
	}
}

func TestArchiveLayout(t *testing.T) {
	dir := writeTree(t, sampleTree)
	if err := os.Chmod(filepath.Join(dir, "deploy.yaml"), 0o750); err != nil {
		t.Fatal(err)
	}
	layer, err := push.Archive(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	entries := readLayer(t, layer)
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		h := e.hdr
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(0, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		wantMode := int64(0o644)
		switch {
		case h.Typeflag == tar.TypeDir:
			wantMode = 0o755
		case h.Name == "deploy.yaml":
			wantMode = 0o755
		}
		if h.Mode != wantMode {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, wantMode)
		}
		if h.Typeflag == tar.TypeReg && e.data != sampleTree[h.Name] {
			t.Errorf("%s: content %q", h.Name, e.data)
		}
	}
	want := []string{".", "base", "base/cm.yaml", "base/kustomization.yaml", "deploy.yaml", "sub", "svc.yaml"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("entries %q, want %q", names, want)
	}
}

func TestArchiveSingleFile(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.yaml": "kind: Pod\n"})
	layer, err := push.Archive(context.Background(), filepath.Join(dir, "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	entries := readLayer(t, layer)
	if len(entries) != 2 || entries[0].hdr.Name != "." || entries[1].hdr.Name != "app.yaml" || entries[1].data != "kind: Pod\n" {
		t.Errorf("entries %+v", entries)
	}
}

func TestArchiveRejects(t *testing.T) {
	tests := map[string]func(t *testing.T, dir string) string{
		"symlink": func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "link.yaml")
			if err := os.Symlink("deploy.yaml", p); err != nil {
				t.Fatal(err)
			}
			return p
		},
		"symlinked dir": func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "base", "up")
			if err := os.Symlink("..", p); err != nil {
				t.Fatal(err)
			}
			return p
		},
		"fifo": func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pipe")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skip("mkfifo:", err)
			}
			return p
		},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeTree(t, sampleTree)
			bad := setup(t, dir)
			_, err := push.Pack(context.Background(), dir, push.Options{}, memory.New())
			if !errors.Is(err, errdef.ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			if !strings.Contains(err.Error(), bad) {
				t.Errorf("error %q does not name %s", err, bad)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := push.Pack(context.Background(), filepath.Join(t.TempDir(), "nope"), push.Options{}, memory.New())
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("layer media type", func(t *testing.T) {
		_, err := push.Pack(context.Background(), t.TempDir(), push.Options{LayerMediaType: "application/vnd.oci.image.layer.v1.tar"}, memory.New())
		if !errors.Is(err, errdef.ErrUnsupportedMediaType) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPackManifest(t *testing.T) {
	dir := writeTree(t, sampleTree)
	created := time.Date(2024, 5, 13, 13, 56, 21, 0, time.FixedZone("x", 3600))
	opts := push.Options{
		Source: "git://example/app.git", Revision: "v1@sha1:896e",
		Created:     created,
		Annotations: map[string]string{"team": "apps", "org.opencontainers.image.source": "override"},
	}
	desc, store := pack(t, dir, opts)
	ctx := context.Background()
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("descriptor media type %s", desc.MediaType)
	}
	raw, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != "" {
		t.Errorf("header: %d %s %q", m.SchemaVersion, m.MediaType, m.ArtifactType)
	}
	if m.Config.MediaType != push.MediaTypeFluxConfig {
		t.Errorf("config media type %s", m.Config.MediaType)
	}
	cfg, err := content.FetchAll(ctx, store, m.Config)
	if err != nil || string(cfg) != "{}" {
		t.Errorf("config %q, %v", cfg, err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != push.MediaTypeFluxContent {
		t.Fatalf("layers %+v", m.Layers)
	}
	wantAnn := map[string]string{
		"org.opencontainers.image.created":  "2024-05-13T12:56:21Z",
		"org.opencontainers.image.revision": "v1@sha1:896e",
		"org.opencontainers.image.source":   "override",
		"team":                              "apps",
	}
	if len(m.Annotations) != len(wantAnn) {
		t.Errorf("annotations %v", m.Annotations)
	}
	for k, v := range wantAnn {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}

	t.Run("epoch by default", func(t *testing.T) {
		desc, store := pack(t, dir, push.Options{})
		raw, _ := content.FetchAll(ctx, store, desc)
		var m ocispec.Manifest
		_ = json.Unmarshal(raw, &m)
		if got := m.Annotations["org.opencontainers.image.created"]; got != "1970-01-01T00:00:00Z" {
			t.Errorf("created %q", got)
		}
		if _, ok := m.Annotations["org.opencontainers.image.source"]; ok {
			t.Errorf("empty source annotated: %v", m.Annotations)
		}
	})
}

func TestPushToRegistry(t *testing.T) {
	reg := registrytest.Start(t)
	ctx := context.Background()
	ref, repo := reg.Repository(t, "team/app", "1.4.2")
	dir := writeTree(t, sampleTree)
	desc, err := push.Push(ctx, dir, repo, ref.Tag, push.Options{Revision: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := repo.Resolve(ctx, "1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != desc.Digest || got.Size != desc.Size {
		t.Errorf("registry has %s (%d), pushed %s (%d)", got.Digest, got.Size, desc.Digest, desc.Size)
	}
	// Pushing the same tree again is a no-op with the same digest.
	again, err := push.Push(ctx, copyTree(t, dir), repo, "again", push.Options{Revision: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != desc.Digest {
		t.Errorf("second push %s, first %s", again.Digest, desc.Digest)
	}
	if _, err := push.Push(ctx, dir, repo, "", push.Options{}); !errors.Is(err, errdef.ErrInvalidReference) {
		t.Errorf("empty tag: %v", err)
	}
}
