package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/render"
)

// TestDiffShowsRelocatedImages: with spec.images.mirrors, diff lists each
// rewritten reference and diffs the objects as sync would apply them: at
// the mirror, by the locked digest.
func TestDiffShowsRelocatedImages(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "diff-images")
	reg, up := registrytest.Start(t), registrytest.Start(t)
	web := imagetest.Image(t, up.Repo("library/web:1"), 128)
	work := t.TempDir()
	if out, err := runCLI(t, "key", "generate", "--output-dir", work); err != nil {
		t.Fatalf("key generate: %v\n%s", err, out)
	}
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	deployment := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: diff-images}}
  template:
    metadata: {labels: {app: diff-images}}
    spec:
      containers: [{name: web, image: %q}]
`, up.Repo("library/web:1"))
	if err := os.WriteFile(filepath.Join(src, "web.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	// The artifact's registry is not the images' registry: --insecure
	// reaches only the artifact's, so the images are pushed to a second
	// registry on the same host under another port and locked by their
	// digest here through --images-lock resolving against it.
	url := reg.URL("apps/diff-images", "1")
	out, err := run(t, "push", src, url, "--insecure", "--sign", "--key", filepath.Join(work, "cosign.key"), "--images-lock")
	if err == nil {
		t.Fatalf("push --images-lock resolved %s over plain HTTP without --insecure for its registry:\n%s", up.Host, out)
	}
	// With the images on the artifact's registry, --insecure reaches them.
	web = imagetest.Image(t, reg.Repo("library/web:1"), 128)
	deployment = strings.ReplaceAll(deployment, up.Host, reg.Host)
	if err := os.WriteFile(filepath.Join(src, "web.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "push", src, url, "--insecure", "--sign", "--key", filepath.Join(work, "cosign.key"), "--images-lock"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}

	syncFile := filepath.Join(work, "sync.yaml")
	doc := fmt.Sprintf(`apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata: {name: diff-images, namespace: default}
spec:
  source: {url: "oci://%s", ref: {tag: "1"}, insecure: true}
  verify: {keys: [{path: %s}]}
  images:
    mirrors: [{from: %q, to: "mirror.internal:5000/hub"}]
`, reg.Repo("apps/diff-images"), filepath.Join(work, "cosign.pub"), reg.Host)
	if err := os.WriteFile(syncFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"diff", "-f", syncFile, "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", filepath.Join(work, "cache"), "--insecure"}
	out, err = runCLI(t, args...)
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	moved := "mirror.internal:5000/hub/library/web@" + web.Digest.String()
	for _, want := range []string{
		"image     Deployment.apps/default/web spec.template.spec.containers[0].image: " + reg.Repo("library/web:1") + " -> " + moved,
		"create    Deployment/default/web",
		"image: " + moved,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}

	out, err = runCLI(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, out)
	}
	var got struct {
		Images []render.Relocation `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Images) != 1 || got.Images[0].To != moved || !got.Images[0].Pinned {
		t.Errorf("diff -o json images %+v (%v):\n%s", got.Images, err, out)
	}

	// --dir has no lock: the reference moves to the mirror with its tag.
	out, err = runCLI(t, "diff", "-f", syncFile, "--dir", src, "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", filepath.Join(work, "cache"))
	if err != nil {
		t.Fatalf("diff --dir: %v\n%s", err, out)
	}
	if want := "-> mirror.internal:5000/hub/library/web:1"; !strings.Contains(out, want) {
		t.Errorf("diff --dir output lacks %q:\n%s", want, out)
	}
}
