package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyGenerateCreatesOutputDir: --output-dir is created when missing,
// nested directories included.
func TestKeyGenerateCreatesOutputDir(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "")
	dir := filepath.Join(t.TempDir(), "keys", "ci")
	out, err := runCLI(t, "key", "generate", "--output-dir", dir)
	if err != nil {
		t.Fatalf("key generate into a missing directory: %v\n%s", err, out)
	}
	for _, name := range []string{privateKeyFile, publicKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.Contains(string(b), "-----BEGIN ") {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A path under a regular file cannot be created; the error names the flag.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "key", "generate", "--output-dir", filepath.Join(file, "keys"))
	if err == nil || !strings.Contains(err.Error(), "--output-dir "+filepath.Join(file, "keys")) {
		t.Errorf("key generate under a file: err = %v", err)
	}
}
