package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/verify"
)

// TestPushSignFormats: push --sign writes the signature formats
// --sign-format asks for, and verify finds exactly those.
func TestPushSignFormats(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "push-sign")
	reg := registrytest.Start(t)
	work := t.TempDir()
	if out, err := runCLI(t, "key", "generate", "--output-dir", work); err != nil {
		t.Fatalf("key generate: %v\n%s", err, out)
	}
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"legacy": {"legacy"},
		"bundle": {"bundle"},
		"both":   {"bundle", "legacy"},
	}
	for format, want := range tests {
		t.Run(format, func(t *testing.T) {
			// Distinct content per case, so each digest starts unsigned.
			if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte("kind: ConfigMap\nmetadata: {name: "+format+"}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			url := reg.URL("apps/signed", format)
			if out, err := runCLI(t, "push", src, url, "--insecure", "--sign", "--sign-format", format, "--key", filepath.Join(work, "cosign.key")); err != nil {
				t.Fatalf("push --sign-format %s: %v\n%s", format, err, out)
			}
			out, err := runCLI(t, "verify", url, "--insecure", "--key", filepath.Join(work, "cosign.pub"), "--threshold", "1", "-o", "json")
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
			var v verify.Verdict
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("verify output: %v\n%s", err, out)
			}
			var formats []string
			for _, c := range v.Checked {
				if c.Problem == "" {
					formats = append(formats, c.Format)
				}
			}
			slices.Sort(formats)
			if !v.Verified || !slices.Equal(formats, want) {
				t.Errorf("verified=%v with valid formats %v, want %v", v.Verified, formats, want)
			}
		})
	}
	if _, err := runCLI(t, "push", src, reg.URL("apps/signed", "x"), "--insecure", "--sign", "--sign-format", "pgp", "--key", filepath.Join(work, "cosign.key")); err == nil {
		t.Error("push accepted --sign-format pgp")
	}
}
