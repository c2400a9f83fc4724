package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The registry serves the distribution API from its root until its context
// ends, and stops cleanly then.
func TestServesFromRootUntilCancelled(t *testing.T) {
	root := filepath.Join(t.TempDir(), "registry")
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--root", root, "--addr", "127.0.0.1:0"}, &stderr, func(a string) { addrs <- a })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("registry stopped before serving: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
		t.Errorf("GET /v2/ = %d %q, want 200 from a distribution registry", resp.StatusCode, resp.Header.Get("Docker-Distribution-Api-Version"))
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		t.Errorf("root %s not created: %v", root, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not stop after its context ended")
	}
	if !strings.Contains(stderr.String(), "serving registry on http://"+addr) {
		t.Errorf("stderr = %q, want the address served", stderr.String())
	}
}

func TestRefusesBadInvocations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no root", nil, "--root is required"},
		{"stray argument", []string{"--root", t.TempDir(), "serve"}, "unexpected arguments"},
		{"unknown flag", []string{"--port", "5000"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stderr, nil)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("err = %v (stderr %q), want %q", err, stderr.String(), tc.want)
			}
		})
	}
}
