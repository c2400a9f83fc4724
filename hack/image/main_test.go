package main

import (
	"bytes"
	"context"
	"crypto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagebuild"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/verify"
)

// A reduced build: one small program for the host's architecture, so the
// test runs in seconds; `make image` runs the same code on sealift's three
// binaries for two platforms.
func smallBuild(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for p, body := range map[string]string{
		"go.mod":           "module example.com/tool\n\ngo 1.26\n",
		"cmd/tool/main.go": "package main\n\nfunc main() {}\n",
		"cmd/reg/main.go":  "package main\n\nfunc main() {}\n",
	} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := buildImages
	buildImages = []imagebuild.Image{
		{Name: "tool", Packages: []string{"./cmd/tool", "./cmd/reg"}},
		{Name: "tool-registry", Packages: []string{"./cmd/reg"}},
	}
	t.Cleanup(func() { buildImages = old })
	return dir
}

func keyPair(t *testing.T) (keyPath string, pub []byte) {
	t.Helper()
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	priv, pub, err := cosignfmt.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyPath = filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyPath, pub
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func policy(t *testing.T, pub []byte) verify.Policy {
	t.Helper()
	k, err := cosignfmt.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return verify.Policy{Keys: []crypto.PublicKey{k}, Threshold: 1}
}

// TestPushSigned pushes both images to a registry with -key: the last line
// is the first image's index digest, each index is signed and verifies, and
// the second image went to <repository>-registry.
func TestPushSigned(t *testing.T) {
	dir := smallBuild(t)
	keyPath, pub := keyPair(t)
	reg := registrytest.Start(t)
	var out, log bytes.Buffer
	args := []string{"-C", dir, "-platforms", "linux/" + runtime.GOARCH, "-created", "1700000000",
		"-image", reg.Repo("team/tool") + ":v1", "-key", keyPath, "-revision", "abc", "-version", "v1"}
	if err := run(context.Background(), args, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	want := digest.Digest(lastLine(out.String()))
	if err := want.Validate(); err != nil {
		t.Fatalf("last line %q is not a digest: %v", lastLine(out.String()), err)
	}
	ctx := context.Background()
	for _, name := range []string{"team/tool", "team/tool-registry"} {
		ref, repo := reg.Repository(t, name, "v1")
		desc, err := repo.Resolve(ctx, "v1")
		if err != nil {
			t.Fatalf("resolve %s: %v", ref, err)
		}
		if desc.MediaType != ocispec.MediaTypeImageIndex {
			t.Errorf("%s is a %s, want an image index", name, desc.MediaType)
		}
		if name == "team/tool" && desc.Digest != want {
			t.Errorf("%s is %s, but the last line printed %s", name, desc.Digest, want)
		}
		v, err := verify.Verify(ctx, repo, desc, policy(t, pub))
		if err != nil {
			t.Fatalf("verify %s: %v", name, err)
		}
		if len(v.Signers) != 1 {
			t.Errorf("%s: signers %v, want one", name, v.Signers)
		}
	}
}

// TestLayoutTwice writes OCI layouts twice from scratch: the same digests
// both times (a fresh compile each time), the last line is the first
// image's, and a signed layout verifies in place.
func TestLayoutTwice(t *testing.T) {
	dir := smallBuild(t)
	keyPath, pub := keyPair(t)
	out := filepath.Join(t.TempDir(), "image")
	build := func(extra ...string) string {
		var stdout, log bytes.Buffer
		args := append([]string{"-C", dir, "-out", out, "-platforms", "linux/" + runtime.GOARCH, "-created", "1700000000"}, extra...)
		if err := run(context.Background(), args, &stdout, &log); err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		return lastLine(stdout.String())
	}
	first := build()
	second := build("-key", keyPath)
	if first != second {
		t.Fatalf("two builds: %s and %s", first, second)
	}
	ctx := context.Background()
	store, err := oci.New(filepath.Join(out, "tool"))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := store.Resolve(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != first {
		t.Fatalf("layout tool:latest is %s, want %s", desc.Digest, first)
	}
	if _, err := verify.Verify(ctx, store, desc, policy(t, pub)); err != nil {
		t.Fatalf("verify the signed layout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "tool-registry", "index.json")); err != nil {
		t.Errorf("no layout for the second image: %v", err)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-platforms", "linux"}, "-platforms"},
		{[]string{"-created", "yesterday"}, "-created"},
		{[]string{"-sign-format", "pgp"}, "-sign-format"},
		{[]string{"-registry-image", "a.example/r:v1"}, "-registry-image needs -image"},
		{[]string{"-image", "not a ref"}, "not a ref"},
		{[]string{"-key", "/nonexistent/cosign.key"}, "-key"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		var out, log bytes.Buffer
		err := run(context.Background(), tt.args, &out, &log)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %q: err = %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}
