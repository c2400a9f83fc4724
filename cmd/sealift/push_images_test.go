package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

func TestPushImagesLockCommand(t *testing.T) {
	reg := registrytest.Start(t)
	img := imagetest.Image(t, reg.Repo("img/web:1"), 128)
	src := t.TempDir()
	manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: %q}]\n", reg.Repo("img/web:1"))
	if err := os.WriteFile(filepath.Join(src, "pod.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	url := reg.URL("team/app", "v1")
	out, err := runCLI(t, "push", src, url, "--insecure", "--images-lock", "-o", "json")
	if err != nil {
		t.Fatalf("push --images-lock: %v\n%s", err, out)
	}
	var res push.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("push -o json printed %q: %v", out, err)
	}
	if len(res.Images) != 1 || res.Images[0].Image != reg.Repo("img/web:1") || res.Images[0].Digest != img.Digest.String() {
		t.Fatalf("result images %+v, want %s at %s", res.Images, reg.Repo("img/web:1"), img.Digest)
	}

	// The pulled artifact holds the lock.
	dest := filepath.Join(t.TempDir(), "out")
	if out, err := run(t, "pull", reg.Repo("team/app")+"@"+res.Digest, "-o", dest, "--insecure"); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(imagelock.Path)))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := imagelock.Parse(data)
	if err != nil || len(lock.Images) != 1 || lock.Images[0].Digest != img.Digest.String() {
		t.Fatalf("pulled lock %+v, %v", lock, err)
	}

	// --dry-run locks too, and gives the digest the push gave.
	dry, err := runCLI(t, "push", src, url, "--insecure", "--images-lock", "--dry-run")
	if err != nil || strings.TrimSpace(dry) != res.Digest {
		t.Errorf("dry run printed %q (%v), want %s", dry, err, res.Digest)
	}

	// An image nobody pushed fails the push, named with its object.
	if err := os.WriteFile(filepath.Join(src, "job.yaml"), []byte(fmt.Sprintf("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: j, image: %q}]\n", reg.Repo("img/nope:1"))), 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := run(t, "push", src, url, "--insecure", "--images-lock")
	var hint *hintError
	if err == nil || !strings.Contains(err.Error(), reg.Repo("img/nope:1")) || !strings.Contains(err.Error(), "Job.batch/j") ||
		!errors.As(err, &hint) || !strings.Contains(hint.hint, "--allow-unresolved") {
		t.Errorf("push with an unresolvable image: %v (hint %+v)\n%s", err, hint, msg)
	}
	out, err = runCLI(t, "push", src, url, "--insecure", "--images-lock", "--allow-unresolved", "-o", "json")
	if err != nil {
		t.Fatalf("push --allow-unresolved: %v\n%s", err, out)
	}
	res = push.Result{}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Images) != 2 || !res.Images[0].Unresolved {
		t.Errorf("push --allow-unresolved result %+v, %v", res.Images, err)
	}

	for name, args := range map[string][]string{
		"allow-unresolved alone": {"push", src, url, "--insecure", "--allow-unresolved"},
		"images-path alone":      {"push", src, url, "--insecure", "--images-path", "x"},
		"images-path kustomize":  {"push", src, url, "--insecure", "--images-lock", "--kustomize", "--images-path", "x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := run(t, args...); err == nil {
				t.Errorf("%v succeeded", args)
			}
		})
	}
}
