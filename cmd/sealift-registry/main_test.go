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
	for _, args := range [][]string{{}, {"serve"}} {
		t.Run(strings.Join(append([]string{"sealift-registry"}, args...), " "), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "registry")
			ctx, cancel := context.WithCancel(context.Background())
			addrs := make(chan string, 1)
			done := make(chan error, 1)
			var stderr bytes.Buffer
			go func() {
				done <- run(ctx, append(args, "--root", root, "--addr", "127.0.0.1:0"), &bytes.Buffer{}, &stderr, func(a string) { addrs <- a })
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
		})
	}
}

func TestRefusesBadInvocations(t *testing.T) {
	dir := t.TempDir()
	notBcrypt := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(notBcrypt, []byte("ops:$apr1$Dlw2F8nF$X2oS7KL8Zc3oJkV9bGZ5k/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no root", nil, "--root is required"},
		{"stray argument", []string{"--root", dir, "extra"}, "unexpected arguments"},
		{"unknown command", []string{"purge", "--root", dir}, `unknown command "purge"`},
		{"unknown flag", []string{"--port", "5000"}, "flag provided but not defined"},
		{"cert without key", []string{"--root", dir, "--tls-cert", "server.pem"}, "--tls-cert and --tls-key go together"},
		{"missing cert files", []string{"--root", dir, "--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none-key.pem")}, "none.pem"},
		{"missing htpasswd", []string{"--root", dir, "--htpasswd", filepath.Join(dir, "none")}, "bad htpasswd file"},
		{"md5 htpasswd", []string{"--root", dir, "--htpasswd", notBcrypt}, "htpasswd -B"},
		{"gc without root", []string{"gc"}, "--root is required"},
		{"gc on an empty directory", []string{"gc", "--root", t.TempDir()}, "holds no registry content"},
		{"gc stray argument", []string{"gc", "--root", dir, "now"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tc.args, &bytes.Buffer{}, &stderr, nil)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Errorf("err = %v (stderr %q), want %q", err, stderr.String(), tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Error("a refused --htpasswd file was created")
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "[::1]:5000": true, "localhost:5000": true,
		"0.0.0.0:5000": false, ":5000": false, "198.18.1.1:5443": false, "nonsense": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
