package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestBuildWithoutGitOnPath is the second line of defence, documented in
// the package: were an entry kustomize clones to get past the checks,
// kustomize runs the "git" found on PATH, so without one nothing runs. The
// build is driven directly here, as if the checks had missed the entry.
func TestBuildWithoutGitOnPath(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	t.Setenv("PATH", t.TempDir())
	mem := filesys.MakeFsInMemory()
	entry := "file:///x?ref=--upload-pack=touch%20" + pwned
	if err := mem.WriteFile("/kustomization.yaml", []byte("resources:\n- "+entry+"\n")); err != nil {
		t.Fatal(err)
	}
	if remoteReason(entry) == "" {
		t.Fatalf("the checks accept %q", entry)
	}
	_, err := build(context.Background(), mem, ".", Options{}.withDefaults())
	if err == nil {
		t.Fatal("built a kustomization whose base is a git URL")
	}
	if _, serr := os.Stat(pwned); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("a command ran: %v", serr)
	}
}
