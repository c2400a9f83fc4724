package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/mirror"
	"github.com/sealift-dev/sealift/pull"
)

// release is a connected side: a registry with two signed artifacts whose
// images locks pin images on the same registry, and a mirror list of them.
type release struct {
	reg            *registrytest.Registry
	dir            string
	key, pub, list string
	fingerprint    string
	web, multi     ocispec.Descriptor
	appDigest      string
	appLayer       ocispec.Descriptor
}

func newRelease(t *testing.T, password string) *release {
	t.Helper()
	t.Setenv(cosignfmt.PasswordEnv, password)
	r := &release{reg: registrytest.Start(t), dir: t.TempDir()}
	if out, err := runCLI(t, "key", "generate", "--output-dir", r.dir); err != nil {
		t.Fatalf("key generate: %v\n%s", err, out)
	}
	r.key, r.pub = filepath.Join(r.dir, "cosign.key"), filepath.Join(r.dir, "cosign.pub")
	pub, err := cosignfmt.LoadPublicKeyFile(r.pub)
	if err != nil {
		t.Fatal(err)
	}
	r.fingerprint = cosignfmt.Fingerprint(pub)
	r.web = imagetest.Image(t, r.reg.Repo("library/web:1"), 1024)
	r.multi, _ = imagetest.Index(t, r.reg.Repo("team/multi:2"), 512)
	for name, images := range map[string][]string{
		"app": {r.reg.Repo("library/web:1"), r.reg.Repo("team/multi:2")},
		"db":  {r.reg.Repo("library/web:1")},
	} {
		src := filepath.Join(r.dir, name)
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		var cs []string
		for i, img := range images {
			cs = append(cs, fmt.Sprintf("{name: c%d, image: %q}", i, img))
		}
		doc := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  template:\n    spec:\n      containers: [%s]\n", name, strings.Join(cs, ", "))
		if err := os.WriteFile(filepath.Join(src, "app.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, "push", src, r.reg.URL("team/"+name, "1.0.0"), "--insecure", "--images-lock", "--sign", "--key", r.key)
		if err != nil {
			t.Fatalf("push %s: %v\n%s", name, err, out)
		}
		if name == "app" {
			r.appDigest = strings.TrimSpace(out)
		}
	}
	// The app's content layer, for the tampering test.
	ref, repo := r.reg.Repository(t, "team/app", "1.0.0")
	desc, err := pull.Resolve(context.Background(), repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	data, err := content.FetchAll(context.Background(), repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	r.appLayer = m.Layers[0]
	r.list = filepath.Join(r.dir, "release.yaml")
	list := fmt.Sprintf("apiVersion: sealift.dev/v1alpha1\nkind: MirrorList\nartifacts:\n- {repository: %q, tag: 1.0.0, images: true}\n- {repository: %q, semver: '^1'}\n",
		r.reg.Repo("team/app"), r.reg.Repo("team/db"))
	if err := os.WriteFile(r.list, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMirrorReleaseAcrossTheGap(t *testing.T) {
	r := newRelease(t, "release")
	tarFile := filepath.Join(t.TempDir(), "release.tar")
	out, err := runCLI(t, "mirror", "-f", r.list, "tar:"+tarFile, "--insecure", "--key", r.pub, "--carry-key", r.pub, "-o", "json")
	if err != nil {
		t.Fatalf("mirror -f: %v\n%s", err, out)
	}
	var tr mirror.Transfer
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("-o json printed %q: %v", out, err)
	}
	if len(tr.Artifacts) != 2 || tr.Artifacts[0].Digest != r.appDigest || len(tr.Images) != 2 {
		t.Fatalf("transfer %+v", tr)
	}

	// The far side verifies the file in place with the carried key, pinned.
	out, err = runCLI(t, "verify", "tar:"+tarFile, "--trust-fingerprint", r.fingerprint, "--with-images")
	if err != nil {
		t.Fatalf("verify the release: %v\n%s", err, out)
	}
	for _, want := range []string{
		"artifact  team/app:1.0.0", "artifact  team/db:1.0.0",
		"image     library/web@" + r.web.Digest.String(), "image     team/multi@" + r.multi.Digest.String(),
		"verified (" + r.fingerprint + ")", "unsigned",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify table lacks %q:\n%s", want, out)
		}
	}
	// Without a pin, the carried key is ignored: nothing to verify with.
	_, stderr, err := execute(t, "verify", "tar:"+tarFile, "--trust-fingerprint", "sha256:"+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(stderr, "carries key "+r.fingerprint+", which no --trust-fingerprint pins: ignored") {
		t.Errorf("verify with another pin: %v\n%s", err, stderr)
	}

	// Into the site's registry, checked against the pinned key.
	site := registrytest.Start(t)
	out, err = runCLI(t, "mirror", "tar:"+tarFile, "oci://"+site.Host, "--insecure", "--trust-fingerprint", r.fingerprint, "-o", "json")
	if err != nil {
		t.Fatalf("mirror the release into the site: %v\n%s", err, out)
	}
	tr = mirror.Transfer{}
	if err := json.Unmarshal([]byte(out), &tr); err != nil || len(tr.Artifacts) != 2 || tr.Artifacts[0].Verdict == nil || !tr.Artifacts[0].Verdict.Verified {
		t.Fatalf("release -> site: %+v, %v", tr, err)
	}
	if out, err := runCLI(t, "verify", site.URL("team/app", "1.0.0"), "--insecure", "--key", r.pub); err != nil {
		t.Errorf("verify at the site: %v\n%s", err, out)
	}
	ref, repo := site.Repository(t, "team/multi", "2")
	if got, err := pull.Resolve(context.Background(), repo, ref); err != nil || got.Digest != r.multi.Digest {
		t.Errorf("team/multi:2 at the site: %v, %v", got.Digest, err)
	}
}

// rewriteTar copies the tar src to dst, passing each entry through edit.
func rewriteTar(t *testing.T, src, dst string, edit func(hdr *tar.Header, body []byte) []byte) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		body = edit(hdr, body)
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorReleaseAttacks: a release tar whose bytes were changed, or
// whose carried trust was swapped for an attacker's, is refused on the far
// side, and nothing reaches the site's registry.
func TestMirrorReleaseAttacks(t *testing.T) {
	r := newRelease(t, "attacks")
	work := t.TempDir()
	genuine := filepath.Join(work, "release.tar")
	if out, err := runCLI(t, "mirror", "-f", r.list, "tar:"+genuine, "--insecure", "--key", r.pub, "--carry-key", r.pub); err != nil {
		t.Fatalf("mirror -f: %v\n%s", err, out)
	}

	// An attacker's release: the same repositories, other content, signed
	// with the attacker's key, which the tar carries instead.
	evil := newRelease(t, "evil")
	swapped := filepath.Join(work, "swapped.tar")
	if out, err := runCLI(t, "mirror", "-f", evil.list, "tar:"+swapped, "--insecure", "--key", evil.pub, "--carry-key", evil.pub); err != nil {
		t.Fatalf("mirror the attacker's release: %v\n%s", err, out)
	}

	// One blob changed in place: the app's content layer.
	changed := filepath.Join(work, "changed.tar")
	layerName := "blobs/sha256/" + r.appLayer.Digest.Encoded()
	found := false
	rewriteTar(t, genuine, changed, func(hdr *tar.Header, body []byte) []byte {
		if hdr.Name != layerName {
			return body
		}
		found = true
		body = bytes.Clone(body)
		body[len(body)-1] ^= 0xff
		return body
	})
	if !found {
		t.Fatalf("the release tar holds no %s", layerName)
	}

	tests := map[string]struct {
		file string
		want string
	}{
		"changed blob":  {changed, "mismatched digest"},
		"swapped trust": {swapped, "match nothing the file carries"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out, stderr, err := execute(t, "verify", "tar:"+tt.file, "--trust-fingerprint", r.fingerprint, "--with-images")
			if err == nil || !strings.Contains(out+err.Error(), tt.want) {
				t.Fatalf("verify = %v, want a refusal saying %q\n%s%s", err, tt.want, out, stderr)
			}
			site := registrytest.Start(t)
			_, _, err = execute(t, "mirror", "tar:"+tt.file, "oci://"+site.Host, "--insecure", "--trust-fingerprint", r.fingerprint)
			if err == nil {
				t.Fatal("mirror into the site succeeded")
			}
			ref, repo := site.Repository(t, "team/app", "1.0.0")
			if _, err := pull.Resolve(context.Background(), repo, ref); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("the site holds team/app:1.0.0 after a refused mirror: %v", err)
			}
		})
	}
	// The swapped tar does verify with the attacker's key: the pin alone
	// decides which carried key counts.
	if out, err := runCLI(t, "verify", "tar:"+swapped, "--trust-fingerprint", evil.fingerprint); err != nil {
		t.Errorf("the attacker's own pin: %v\n%s", err, out)
	}
}

// TestVerifyOneArtifactTarWithImages: a tar of one artifact mirrored with
// its images (mirror SRC tar:FILE --with-images) is verified with its
// images under --with-images: a signed image whose layer was changed in
// the file is refused, not passed over.
func TestVerifyOneArtifactTarWithImages(t *testing.T) {
	r := newRelease(t, "one")
	if out, err := runCLI(t, "sign", r.reg.URL("library/web", "1"), "--key", r.key, "--insecure"); err != nil {
		t.Fatalf("sign the image: %v\n%s", err, out)
	}
	ref, repo := r.reg.Repository(t, "library/web", "1")
	data, err := content.FetchAll(context.Background(), repo, r.web)
	if err != nil {
		t.Fatalf("fetch %s: %v", ref, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("image manifest: %v (%d layers)", err, len(m.Layers))
	}
	work := t.TempDir()
	genuine := filepath.Join(work, "app.tar")
	if out, err := runCLI(t, "mirror", r.reg.URL("team/app", "1.0.0"), "tar:"+genuine, "--insecure", "--key", r.pub, "--with-images"); err != nil {
		t.Fatalf("mirror --with-images: %v\n%s", err, out)
	}
	out, err := runCLI(t, "verify", "tar:"+genuine, "--key", r.pub, "--with-images")
	if err != nil {
		t.Fatalf("verify the genuine tar: %v\n%s", err, out)
	}
	for _, want := range []string{"image     library/web@" + r.web.Digest.String(), "verified (" + r.fingerprint + ")", "unsigned"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify table lacks %q:\n%s", want, out)
		}
	}

	changed := filepath.Join(work, "changed.tar")
	layerName := "blobs/sha256/" + m.Layers[0].Digest.Encoded()
	found := false
	rewriteTar(t, genuine, changed, func(hdr *tar.Header, body []byte) []byte {
		if hdr.Name != layerName {
			return body
		}
		found = true
		body = bytes.Clone(body)
		body[len(body)-1] ^= 0xff
		return body
	})
	if !found {
		t.Fatalf("the tar holds no %s", layerName)
	}
	out, stderr, err := execute(t, "verify", "tar:"+changed, "--key", r.pub, "--with-images")
	if err == nil || !strings.Contains(out, "mismatched digest") || !strings.Contains(out, "library/web@"+r.web.Digest.String()) {
		t.Fatalf("verify --with-images of the tar with a changed image = %v, want a refusal naming the image\n%s%s", err, out, stderr)
	}
	// Without --with-images only the artifact is checked, as before.
	if out, err := runCLI(t, "verify", "tar:"+changed, "--key", r.pub); err != nil {
		t.Errorf("verify of the artifact alone: %v\n%s", err, out)
	}
}
