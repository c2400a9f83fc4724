package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagebuild"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// TestVerifyBuiltImage: an image index as `make image` builds it (here a
// reduced build: one small program, the host's architecture) pushed to the
// in-process registry is signed with `sealift sign` and verified with
// `sealift verify`, and an unsigned push of it is refused.
func TestVerifyBuiltImage(t *testing.T) {
	mod := t.TempDir()
	for p, body := range map[string]string{
		"go.mod":          "module example.com/img\n\ngo 1.26\n",
		"cmd/img/main.go": "package main\n\nfunc main() {}\n",
	} {
		p = filepath.Join(mod, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := imagebuild.NewBuilder(imagebuild.Options{Dir: mod, Platforms: []imagebuild.Platform{{OS: "linux", Arch: runtime.GOARCH}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	idx, err := b.Index(ctx, imagebuild.Image{Name: "img", Packages: []string{"./cmd/img"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t)
	desc, err := imagebuild.Push(ctx, reg.Repo("platform/img")+":v1", idx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imagebuild.Push(ctx, reg.Repo("platform/unsigned")+":v1", idx, true); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatal(err)
	}
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	out, err := runCLI(t, "sign", reg.URL("platform/img", "v1"), "--key", key, "--insecure")
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if !strings.Contains(out, desc.Digest.String()) {
		t.Errorf("sign printed %q, want the index digest %s", out, desc.Digest)
	}
	out, err = runCLI(t, "verify", reg.URL("platform/img", "v1"), "--key", pub, "--insecure")
	if err != nil {
		t.Fatalf("verify the signed image: %v\n%s", err, out)
	}
	if !strings.Contains(out, desc.Digest.String()) {
		t.Errorf("verify printed %q, want the index digest %s", out, desc.Digest)
	}
	if _, err := runCLI(t, "verify", reg.URL("platform/unsigned", "v1"), "--key", pub, "--insecure"); err == nil {
		t.Fatal("verify accepted an unsigned image")
	}
}
