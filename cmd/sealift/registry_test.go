package main

import (
	"strings"
	"testing"
)

// Without the server binary beside sealift or on PATH, `registry serve`
// says what is missing and how to get it.
func TestRegistryServeWithoutServerBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	out, err := run(t, "registry", "serve", "--root", t.TempDir())
	if err == nil {
		t.Fatal("registry serve succeeded without sealift-registry")
	}
	var printed strings.Builder
	printError(&printed, err)
	msg := out + printed.String()
	for _, want := range []string{"sealift-registry not found", "make build"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestRegistryServeNeedsRoot(t *testing.T) {
	_, err := run(t, "registry", "serve")
	if err == nil || !strings.Contains(err.Error(), "--root is required") {
		t.Errorf("err = %v, want --root is required", err)
	}
}
