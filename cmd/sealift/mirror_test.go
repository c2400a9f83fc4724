package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// TestMirrorCLI signs an artifact through the CLI in both formats, carries
// it registry -> tar -> second registry with `sealift mirror`, and checks
// the JSON report and that `sealift verify` passes at the far end.
func TestMirrorCLI(t *testing.T) {
	src, dst := registrytest.Start(t), registrytest.Start(t)
	desc := pushTestManifest(t, src, "team/app", "v1")
	pushTestManifest(t, src, "team/app", "unsigned")
	dir := t.TempDir()
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatalf("key generate: %v", err)
	}
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if out, err := run(t, "sign", src.URL("team/app", "v1"), "--key", keyPath, "--format", "both", "--insecure"); err != nil {
		t.Fatalf("sign: %v\n%s", err, out)
	}

	tarFile := filepath.Join(dir, "app.tar")
	out, err := runCLI(t, "mirror", src.URL("team/app", "v1"), "tar:"+tarFile, "--key", pubPath, "--insecure", "-o", "json")
	if err != nil {
		t.Fatalf("mirror registry -> tar: %v", err)
	}
	var res struct {
		Source, Destination, Digest string
		Signatures, Referrers       int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json printed %q: %v", out, err)
	}
	want := struct {
		Source, Destination, Digest string
		Signatures, Referrers       int
	}{src.URL("team/app", "v1"), "tar:" + tarFile, desc.Digest.String(), 1, 1}
	if res != want {
		t.Fatalf("mirror -o json = %+v, want %+v", res, want)
	}

	// The tar is verified in place before it is imported, with no registry.
	out, err = runCLI(t, "verify", "tar:"+tarFile, "--key", pubPath, "-o", "json")
	if err != nil {
		t.Fatalf("verify the tar: %v\n%s", err, out)
	}
	var tarVerdict struct {
		Reference string `json:"reference"`
		Verified  bool   `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &tarVerdict); err != nil || !tarVerdict.Verified || tarVerdict.Reference != "tar:"+tarFile+"@"+desc.Digest.String() {
		t.Fatalf("verify the tar: %s (%v)", out, err)
	}
	if out, err := run(t, "verify", "tar:"+tarFile+":v1", "--key", writeTestPub(t)); err == nil {
		t.Fatalf("verify the tar with another key passed:\n%s", out)
	}
	if out, err := run(t, "verify", "tar:"+tarFile+":v9", "--key", pubPath); err == nil || !strings.Contains(out+err.Error(), `tag "v9"`) {
		t.Fatalf("verify a missing tag in the tar: %v\n%s", err, out)
	}

	out, err = runCLI(t, "mirror", "tar:"+tarFile, "oci://"+dst.Repo("mirror/app"), "--insecure")
	if err != nil {
		t.Fatalf("mirror tar -> registry: %v", err)
	}
	if strings.TrimSpace(out) != desc.Digest.String() {
		t.Fatalf("mirror printed %q, want the digest %s", out, desc.Digest)
	}
	if out, err := run(t, "verify", dst.URL("mirror/app", "v1"), "--key", pubPath, "--insecure"); err != nil {
		t.Fatalf("verify at the mirror: %v\n%s", err, out)
	}
	if out, err := run(t, "verify", dst.URL("mirror/app", "v1"), "--key", writeTestPub(t), "--insecure"); err == nil {
		t.Fatalf("verify at the mirror with another key passed:\n%s", out)
	}

	// Refusals name the problem and say what to do.
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"unsigned", []string{src.URL("team/app", "unsigned"), "tar:" + filepath.Join(dir, "u.tar"), "--key", pubPath, "--insecure"},
			[]string{"no signature", "Recommendation: sign it"}},
		{"missing tag", []string{src.URL("team/app", "v9"), "tar:" + filepath.Join(dir, "m.tar"), "--insecure"},
			[]string{`tag "v9"`, "not found", "Recommendation: check the tag"}},
		{"existing file", []string{src.URL("team/app", "v1"), "tar:" + tarFile, "--insecure"},
			[]string{"file already exists", "Recommendation: remove " + tarFile}},
		{"bad location", []string{"registry.example/app:v1", "tar:x.tar"},
			[]string{"invalid reference", "Recommendation: use oci://"}},
		{"missing source file", []string{"tar:" + filepath.Join(dir, "none.tar"), "oci-layout:" + filepath.Join(dir, "l")},
			[]string{"open tar:", "no such file", "Recommendation: check the paths"}},
		{"one argument", []string{src.URL("team/app", "v1")}, []string{"accepts 2 arg(s)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := execute(t, append([]string{"mirror"}, tt.args...)...)
			if err == nil {
				t.Fatal("mirror succeeded")
			}
			var msg strings.Builder
			printError(&msg, err)
			for _, w := range tt.want {
				if !strings.Contains(msg.String()+stderr, w) {
					t.Errorf("error output %q lacks %q", msg.String(), w)
				}
			}
		})
	}
	for _, f := range []string{"u.tar", "m.tar", "l"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("a failed mirror wrote %s", f)
		}
	}
}

// TestAttackVerifyAlteredTar alters the content layer inside a signed tar
// that `sealift mirror` wrote, keeping its size. The manifest and its
// signature are untouched, so checking signatures alone says "Verified";
// `sealift verify tar:` must read every blob against its digest, refuse,
// and say not to import the file.
func TestAttackVerifyAlteredTar(t *testing.T) {
	reg := registrytest.Start(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatalf("key generate: %v", err)
	}
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if out, err := run(t, "push", src, reg.URL("team/app", "v1"), "--insecure", "--sign", "--key", keyPath); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	tarFile := filepath.Join(dir, "app.tar")
	if out, err := run(t, "mirror", reg.URL("team/app", "v1"), "tar:"+tarFile, "--insecure"); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out)
	}
	if out, err := run(t, "verify", "tar:"+tarFile, "--key", pubPath); err != nil || !strings.Contains(out, "Verified") {
		t.Fatalf("verify the untouched tar: %v\n%s", err, out)
	}

	// Flip a byte in the middle of the gzip layer (the one blob that is
	// not JSON), in place.
	b, err := os.ReadFile(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(b)
	tr := tar.NewReader(r)
	altered := false
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		at := len(b) - r.Len()
		if strings.HasPrefix(hdr.Name, "blobs/sha256/") && hdr.Size > 2 && b[at] == 0x1f && b[at+1] == 0x8b {
			b[at+int(hdr.Size)/2] ^= 0xff
			altered = true
		}
	}
	if !altered {
		t.Fatal("no gzip layer found in the tar")
	}
	if err := os.WriteFile(tarFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := runCLI(t, "verify", "tar:"+tarFile, "--key", pubPath)
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("verify an altered tar: %v, want ErrDigestMismatch\n%s", err, out)
	}
	if strings.Contains(out, "Verified") {
		t.Fatalf("an altered tar was reported verified:\n%s", out)
	}
	var msg strings.Builder
	printError(&msg, err)
	if !strings.Contains(msg.String(), "do not import it") || strings.Contains(msg.String(), "drop it") {
		t.Errorf("error output %q does not say what to do", msg.String())
	}
	out, _ = runCLI(t, "verify", "tar:"+tarFile, "--key", pubPath, "-o", "json")
	var v struct {
		Verified bool `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Verified {
		t.Fatalf("-o json for an altered tar: %s (%v)", out, err)
	}
}
