package main

import (
	"strings"
	"testing"
)

// Without the engine binary beside sealift or on PATH, `controller` says
// what is missing and how to get it, and -h still shows what it is.
func TestControllerWithoutEngineBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	out, err := run(t, "controller", "--help")
	if err == nil {
		t.Fatal("controller succeeded without sealift-controller")
	}
	var printed strings.Builder
	printError(&printed, err)
	msg := out + printed.String()
	for _, want := range []string{"sealift-controller not found", "make build", "in-cluster engine"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
