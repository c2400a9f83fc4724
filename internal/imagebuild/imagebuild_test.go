package imagebuild_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sealift-dev/sealift/internal/imagebuild"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// created is the SOURCE_DATE_EPOCH of the test builds.
var created = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// hostPlatform is the one platform the tests build for: a reduced build
// (one small program, one platform) that runs in seconds; `make image`
// builds sealift's binaries for linux/amd64 and linux/arm64 the same way.
var hostPlatform = imagebuild.Platform{OS: "linux", Arch: runtime.GOARCH}

// helloModule writes a tiny main module and returns its directory.
func helloModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":            "module example.com/hello\n\ngo 1.26\n",
		"cmd/hello/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
		"cmd/other/main.go": "package main\n\nfunc main() {}\n",
	}
	for p, body := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var helloImage = imagebuild.Image{Name: "hello", Packages: []string{"./cmd/hello", "./cmd/other"}}

func build(t *testing.T, dir string, opts imagebuild.Options) v1.ImageIndex {
	t.Helper()
	opts.Dir = dir
	if opts.Platforms == nil {
		opts.Platforms = []imagebuild.Platform{hostPlatform}
	}
	b, err := imagebuild.NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	idx, err := b.Index(context.Background(), helloImage)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func digestOf(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var labelled = imagebuild.Options{Created: created, Source: "https://example.com/hello", Revision: "0123abc", Version: "v1.2.3"}

// TestReproducible builds the same program twice, each time from a fresh
// builder (its own scratch directory and compile) and from a copy of the
// module at another path, and gets the same index digest; another
// SOURCE_DATE_EPOCH gives another digest.
func TestReproducible(t *testing.T) {
	first := digestOf(t, build(t, helloModule(t), labelled))
	second := digestOf(t, build(t, helloModule(t), labelled))
	if first != second {
		t.Fatalf("two builds of the same source: %s and %s", first, second)
	}
	later := labelled
	later.Created = created.Add(time.Second)
	if d := digestOf(t, build(t, helloModule(t), later)); d == first {
		t.Fatalf("a build with another creation time has the same digest %s", d)
	}
}

func TestIndexAndConfig(t *testing.T) {
	idx := build(t, helloModule(t), labelled)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 1 {
		t.Fatalf("index: media type %s with %d manifests, want an OCI index of 1", im.MediaType, len(im.Manifests))
	}
	if p := im.Manifests[0].Platform; p == nil || p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Fatalf("index entry platform = %+v, want linux/%s", p, runtime.GOARCH)
	}
	wantLabels := map[string]string{
		imagebuild.LabelSource:   "https://example.com/hello",
		imagebuild.LabelRevision: "0123abc",
		imagebuild.LabelVersion:  "v1.2.3",
		imagebuild.LabelTitle:    "hello",
		imagebuild.LabelCreated:  "2024-05-06T07:08:09Z",
	}
	for k, v := range wantLabels {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s with config %s, want OCI media types", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2 (base, binaries)", len(m.Layers))
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type %s, want %s", l.MediaType, types.OCILayer)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(created) {
		t.Errorf("config created = %s, want %s", cfg.Created, created)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532", cfg.Config.User)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/usr/local/bin/hello" {
		t.Errorf("entrypoint = %q, want [/usr/local/bin/hello]", cfg.Config.Entrypoint)
	}
	for k, v := range wantLabels {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	env := map[string]bool{}
	for _, e := range cfg.Config.Env {
		env[e] = true
	}
	if !env["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"] || !env["PATH=/usr/local/bin"] {
		t.Errorf("env = %q", cfg.Config.Env)
	}
	if len(cfg.History) != 2 || len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("history %d entries, diff IDs %d; want 2 and 2", len(cfg.History), len(cfg.RootFS.DiffIDs))
	}
	for _, h := range cfg.History {
		if !h.Created.Equal(created) {
			t.Errorf("history entry created %s, want %s", h.Created, created)
		}
	}
}

// entry is what the test reads back of one tar entry.
type entry struct {
	hdr  *tar.Header
	data []byte
}

func layerEntries(t *testing.T, l v1.Layer) ([]string, map[string]entry) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var order []string
	all := map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, h.Name)
		all[h.Name] = entry{h, data}
	}
	return order, all
}

func TestLayerContents(t *testing.T) {
	idx := build(t, helloModule(t), labelled)
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	base, bins := map[string]entry{}, map[string]entry{}
	for i, dst := range []map[string]entry{base, bins} {
		order, all := layerEntries(t, layers[i])
		for j := 1; j < len(order); j++ {
			if order[j-1] >= order[j] {
				t.Errorf("layer %d: %q before %q, want lexical order", i, order[j-1], order[j])
			}
		}
		for k, v := range all {
			dst[k] = v
			if !v.hdr.ModTime.Equal(created) || v.hdr.Uname != "" || v.hdr.Gname != "" {
				t.Errorf("%s: time %s, names %q/%q; want %s and none", k, v.hdr.ModTime, v.hdr.Uname, v.hdr.Gname, created)
			}
		}
	}
	want := map[string]struct {
		mode     int64
		uid, gid int
	}{
		"etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0},
		"etc/passwd":                        {0o644, 0, 0},
		"tmp/":                              {0o1777, 0, 0},
		"home/nonroot/":                     {0o700, 65532, 65532},
	}
	for p, w := range want {
		e, ok := base[p]
		if !ok {
			t.Errorf("base layer lacks %s", p)
			continue
		}
		if e.hdr.Mode != w.mode || e.hdr.Uid != w.uid || e.hdr.Gid != w.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", p, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, w.mode, w.uid, w.gid)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(base["etc/ssl/certs/ca-certificates.crt"].data) {
		t.Fatal("the CA bundle holds no certificate")
	}
	if n := len(pool.Subjects()); n < 100 { //nolint:staticcheck // counting is all we do
		t.Errorf("the CA bundle holds %d certificates, want the NSS roots (over 100)", n)
	}
	if !bytes.Contains(base["etc/passwd"].data, []byte("nonroot:x:65532:65532:")) {
		t.Errorf("/etc/passwd does not name 65532: %q", base["etc/passwd"].data)
	}
	for _, p := range []string{"usr/local/bin/hello", "usr/local/bin/other"} {
		e, ok := bins[p]
		if !ok {
			t.Fatalf("binary layer lacks %s", p)
		}
		if e.hdr.Mode != 0o755 || e.hdr.Uid != 0 {
			t.Errorf("%s: mode %o uid %d, want 755 0", p, e.hdr.Mode, e.hdr.Uid)
		}
		f, err := elf.NewFile(bytes.NewReader(e.data))
		if err != nil {
			t.Fatalf("%s is not an ELF file: %v", p, err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s has an interpreter: it is not a static binary", p)
			}
		}
		if f.Section(".debug_info") != nil {
			t.Errorf("%s keeps DWARF; want -s -w", p)
		}
	}
}

func TestLayoutAndPush(t *testing.T) {
	idx := build(t, helloModule(t), labelled)
	want := digestOf(t, idx)

	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	desc, err := imagebuild.WriteLayout(dir, "latest", idx)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Fatalf("layout descriptor %s, want %s", desc.Digest, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the layout directory kept what it held before: %v", err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	rim, _ := root.IndexManifest()
	if len(rim.Manifests) != 1 || rim.Manifests[0].Digest != want || rim.Manifests[0].Annotations[imagebuild.RefNameAnnotation] != "latest" {
		t.Fatalf("layout index.json = %+v, want one entry %s named latest", rim.Manifests, want)
	}

	reg := registrytest.Start(t)
	ref := reg.Repo("team/hello") + ":v1"
	pushed, err := imagebuild.Push(context.Background(), ref, idx, true)
	if err != nil {
		t.Fatal(err)
	}
	if pushed.Digest != want {
		t.Fatalf("pushed %s, want %s", pushed.Digest, want)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if d := digestOf(t, got); d != want {
		t.Fatalf("pulled %s, want %s", d, want)
	}
	// Every blob made it: the pulled image's layers read back whole.
	gim, _ := got.IndexManifest()
	img, err := got.Image(gim.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("read pulled layer: %v", err)
		}
		rc.Close()
	}
	size, err := imagebuild.Size(idx)
	if err != nil || size <= 0 {
		t.Fatalf("size = %d, %v", size, err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := imagebuild.ParsePlatform("linux"); err == nil {
		t.Error("ParsePlatform(linux) succeeded")
	}
	if _, err := imagebuild.NewBuilder(imagebuild.Options{}); err == nil {
		t.Error("NewBuilder without a directory succeeded")
	}
	if _, err := imagebuild.NewLayer([]imagebuild.File{{Path: "relative", Mode: 0o644}}, created); err == nil {
		t.Error("a relative path was accepted")
	}
	if _, err := imagebuild.NewLayer([]imagebuild.File{{Path: "/a", Mode: 0o644}, {Path: "/a", Mode: 0o644}}, created); err == nil {
		t.Error("a path given twice was accepted")
	}
	b, err := imagebuild.NewBuilder(imagebuild.Options{Dir: helloModule(t), Platforms: []imagebuild.Platform{hostPlatform}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Index(context.Background(), imagebuild.Image{Name: "x", Packages: []string{"./cmd/missing"}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("./cmd/missing")) {
		t.Errorf("building a missing package: %v, want an error naming it", err)
	}
}

// TestNoVCSStamp: a module inside a git repository builds binaries whose
// build info names no commit, as one outside does, so a clone, a worktree
// and a source archive of one commit give the same image.
func TestNoVCSStamp(t *testing.T) {
	dir := helloModule(t)
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "hello"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	idx := build(t, dir, labelled)
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	_, bins := layerEntries(t, layers[1])
	info, err := buildinfo.Read(bytes.NewReader(bins["usr/local/bin/hello"].data))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if strings.HasPrefix(s.Key, "vcs") {
			t.Errorf("the binary is stamped with %s=%s", s.Key, s.Value)
		}
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOAMD64": "v1"}
	if runtime.GOARCH != "amd64" {
		delete(want, "GOAMD64")
	}
	for _, s := range info.Settings {
		if v, ok := want[s.Key]; ok && v == s.Value {
			delete(want, s.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("build settings %v lack %v", info.Settings, want)
	}
}
