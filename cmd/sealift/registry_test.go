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

func TestRegistryFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"gc needs root", []string{"registry", "gc"}, "--root is required"},
		{"gc output format", []string{"registry", "gc", "--root", t.TempDir(), "-o", "yaml"}, `-o "yaml": unknown output format`},
		{"cert without key", []string{"registry", "serve", "--root", t.TempDir(), "--tls-cert", "server.pem"}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"registry", "serve", "--root", t.TempDir(), "--tls-key", "server-key.pem"}, "--tls-cert and --tls-key go together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// Without the server binary, gc says what is missing like serve does.
func TestRegistryGCWithoutServerBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := run(t, "registry", "gc", "--root", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "sealift-registry not found") {
		t.Errorf("err = %v, want sealift-registry not found", err)
	}
}
