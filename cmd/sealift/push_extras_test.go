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

func TestPushExtras(t *testing.T) {
	reg := registrytest.Start(t)
	src := t.TempDir()
	for name, data := range map[string]string{
		"kustomization.yaml": "namePrefix: prod-\nresources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
		"README.md":          "docs\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := reg.URL("team/app", "v1")
	pullFiles := func(t *testing.T, ref string) (string, []string) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "out")
		out, err := run(t, "pull", ref, "-o", dest, "--insecure")
		if err != nil {
			t.Fatalf("pull %s: %v\n%s", ref, err, out)
		}
		entries, err := os.ReadDir(dest)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.TrimSpace(out), names
	}

	dry, err := run(t, "push", src, url, "--insecure", "--dry-run", "--ignore", "*.md", "-o", "json")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, dry)
	}
	var planned push.Result
	if err := json.Unmarshal([]byte(dry), &planned); err != nil || !planned.DryRun || planned.Digest == "" {
		t.Fatalf("dry run printed %q (%v)", dry, err)
	}
	if out, err := run(t, "pull", url, "-o", filepath.Join(t.TempDir(), "x"), "--insecure"); err == nil {
		t.Fatalf("dry run pushed: %s", out)
	}

	out, err := run(t, "push", src, url, "--insecure", "--ignore", "*.md", "--tag", "latest", "--tag", "stable", "-o", "json")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	var res push.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Digest != planned.Digest || res.DryRun || strings.Join(res.Tags, ",") != "latest,stable" {
		t.Errorf("push result %+v, dry run %+v", res, planned)
	}
	for _, tag := range []string{"v1", "latest", "stable"} {
		if got, names := pullFiles(t, reg.URL("team/app", tag)); got != res.Digest || strings.Join(names, " ") != "cm.yaml kustomization.yaml" {
			t.Errorf("pull :%s gave %s with %v", tag, got, names)
		}
	}

	out, err = run(t, "push", src, reg.URL("team/app", "rendered"), "--insecure", "--kustomize", "--layer-media-type", "oci")
	if err != nil {
		t.Fatalf("push --kustomize: %v\n%s", err, out)
	}
	if got, names := pullFiles(t, reg.URL("team/app", "rendered")); got != strings.TrimSpace(out) || strings.Join(names, " ") != push.RenderedFile {
		t.Errorf("pull of the kustomize build gave %s with %v", got, names)
	}

	for name, args := range map[string][]string{
		"bad tag":              {"--tag", "-x"},
		"bad ignore":           {"--ignore", "!keep"},
		"kustomize and ignore": {"--kustomize", "--ignore", "*.md"},
		"sign a dry run":       {"--dry-run", "--sign", "--key", "cosign.key"},
		"bad layer type":       {"--layer-media-type", "application/json"},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := run(t, append([]string{"push", src, url, "--insecure"}, args...)...); err == nil {
				t.Errorf("succeeded: %s", out)
			}
		})
	}
}
