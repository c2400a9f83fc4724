package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/sealift-dev/sealift/internal/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }

// installCRD installs the Sync CRD from config/crd.
func installCRD(t *testing.T) {
	t.Helper()
	if err := env.InstallCRDs("../../config/crd"); err != nil {
		t.Fatal(err)
	}
}

// Without the CRD, the controller says what to install.
func TestRunWithoutCRD(t *testing.T) {
	var stderr strings.Builder
	args := []string{"--kubeconfig", env.Kubeconfig, "--cache-dir", t.TempDir(), "--health-addr", "0", "--metrics-addr", "0"}
	err := run(context.Background(), args, &stderr)
	if err == nil || !strings.Contains(err.Error(), "install the CRD") {
		t.Fatalf("err = %v, want one saying to install the CRD", err)
	}
}

func TestFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    error
		message string
	}{
		"help":            {args: []string{"--help"}, want: pflag.ErrHelp},
		"bad log level":   {args: []string{"--log-level", "loud"}, message: "--log-level"},
		"bad encoding":    {args: []string{"--log-encoding", "xml"}, message: "--log-encoding"},
		"bad selector":    {args: []string{"--watch-label-selector", "a in (b"}, message: "--watch-label-selector"},
		"no workers":      {args: []string{"--concurrent", "0"}, message: "--concurrent"},
		"stray arguments": {args: []string{"extra"}, message: "unexpected arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), tc.args, &stderr)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.message != "" && (err == nil || !strings.Contains(err.Error(), tc.message)) {
				t.Fatalf("err = %v, want one naming %s", err, tc.message)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRunFindsTheCluster: the controller finds the cluster through
// --kubeconfig ($KUBECONFIG: internal/controller's TestKubeconfigDiscovery),
// serves /healthz, /readyz, /metrics and (with --pprof-addr) Go's
// profiles, and stops cleanly when its
// context ends. (One run per process: controller names are unique.)
func TestRunFindsTheCluster(t *testing.T) {
	installCRD(t)
	for _, how := range []string{"flag"} {
		t.Run(how, func(t *testing.T) {
			health, metrics, pprof := freeAddr(t), freeAddr(t), freeAddr(t)
			args := []string{"--cache-dir", t.TempDir(), "--health-addr", health, "--metrics-addr", metrics, "--pprof-addr", pprof,
				"--watch-namespace", "sealift-cli-" + how, "--log-encoding", "console", "--log-level", "error"}
			if how == "flag" {
				args = append(args, "--kubeconfig", env.Kubeconfig)
			} else {
				t.Setenv("KUBECONFIG", env.Kubeconfig)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			var stderr strings.Builder
			go func() { done <- run(ctx, args, &stderr) }()
			stopped := false
			defer func() {
				cancel()
				if stopped {
					return
				}
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("run: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("the controller did not stop within 30s of its context ending")
				}
			}()
			for _, url := range []string{"http://" + health + "/healthz", "http://" + health + "/readyz", "http://" + metrics + "/metrics", "http://" + pprof + "/debug/pprof/heap"} {
				deadline := time.Now().Add(30 * time.Second)
				for {
					resp, err := http.Get(url)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					select {
					case err := <-done:
						stopped = true
						t.Fatalf("the controller stopped: %v", err)
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: not OK after 30s (last error %v)", url, err)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
}
