package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

func TestPushPullCommands(t *testing.T) {
	reg := registrytest.Start(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := reg.URL("team/app", "v1")

	out, err := run(t, "push", src, url, "--insecure", "-o", "json", "--revision", "main@sha1:1", "-a", "team=apps")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	var res push.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("push -o json printed %q: %v", out, err)
	}
	if res.Repository != reg.Repo("team/app") || res.Tag != "v1" || !strings.HasPrefix(res.Digest, "sha256:") || res.Size <= 0 {
		t.Errorf("result %+v", res)
	}

	text, err := run(t, "push", src, url, "--insecure", "--revision", "main@sha1:1", "-a", "team=apps")
	if err != nil || strings.TrimSpace(text) != res.Digest {
		t.Errorf("text push printed %q (%v), want the same digest %s", text, err, res.Digest)
	}

	dest := filepath.Join(t.TempDir(), "out")
	out, err = run(t, "pull", reg.Repo("team/app")+"@"+res.Digest, "-o", dest, "--insecure")
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != res.Digest {
		t.Errorf("pull printed %q", out)
	}
	if data, err := os.ReadFile(filepath.Join(dest, "cm.yaml")); err != nil || string(data) != "kind: ConfigMap\n" {
		t.Errorf("pulled cm.yaml %q, %v", data, err)
	}

	for name, args := range map[string][]string{
		"push without tag":      {"push", src, "oci://" + reg.Repo("team/app"), "--insecure"},
		"push by digest":        {"push", src, reg.Repo("team/app") + "@" + res.Digest, "--insecure"},
		"sign without key":      {"push", src, url, "--insecure", "--sign"},
		"bad annotation":        {"push", src, url, "--insecure", "-a", "novalue"},
		"bad created":           {"push", src, url, "--insecure", "--created", "yesterday"},
		"bad creds":             {"push", src, url, "--insecure", "--creds", "nocolon"},
		"pull without dir":      {"pull", url, "--insecure"},
		"pull into non-empty":   {"pull", url, "-o", src, "--insecure"},
		"pull unknown tag":      {"pull", reg.URL("team/app", "nope"), "-o", filepath.Join(t.TempDir(), "x"), "--insecure"},
		"sign with missing key": {"push", src, url, "--insecure", "--sign", "--key", filepath.Join(t.TempDir(), "cosign.key")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := run(t, args...); err == nil {
				t.Errorf("%v succeeded", args)
			}
		})
	}
}
