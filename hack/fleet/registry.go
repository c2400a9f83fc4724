package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sealift-dev/sealift/internal/registry"
)

// countsPath is where the registry process reports its request counts; it
// is outside the registry's /v2/ API.
const countsPath = "/_fleet/counts"

// regCounts are the requests a registry served, by method and by what they
// asked for (manifest, blob, tags, referrers, upload).
type regCounts struct {
	Total    int64
	ByMethod map[string]int64
	ByKind   map[string]int64
}

func (a regCounts) sub(b regCounts) regCounts {
	return regCounts{Total: a.Total - b.Total, ByMethod: subMap(a.ByMethod, b.ByMethod), ByKind: subMap(a.ByKind, b.ByKind)}
}

// serveRegistry is `fleet registry`: the distribution registry sealift's
// tests use, in a process of its own, counting every request it serves.
func serveRegistry(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	root := fs.String("root", "", "storage directory")
	addrFile := fs.String("addr-file", "", "file to write the address served to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		counts = regCounts{ByMethod: map[string]int64{}, ByKind: map[string]int64{}}
	)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == countsPath {
				mu.Lock()
				data, _ := json.Marshal(counts)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(data)
				return
			}
			mu.Lock()
			counts.Total++
			counts.ByMethod[r.Method]++
			counts.ByKind[r.Method+" "+requestKind(r.URL.Path)]++
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	srv, err := registry.Start(ctx, registry.Options{Root: *root, Wrap: wrap})
	if err != nil {
		return err
	}
	if err := os.WriteFile(*addrFile+".tmp", []byte(srv.Addr), 0o644); err != nil {
		return err
	}
	if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
		return err
	}
	return srv.Wait()
}

// requestKind names what a /v2/ path asks for.
func requestKind(path string) string {
	switch {
	case path == "/v2/" || path == "/v2":
		return "ping"
	case strings.Contains(path, "/manifests/sha256-") && strings.HasSuffix(path, ".sig"):
		return "signature manifest"
	case strings.Contains(path, "/manifests/"):
		return "manifest"
	case strings.Contains(path, "/blobs/uploads"):
		return "upload"
	case strings.Contains(path, "/blobs/"):
		return "blob"
	case strings.Contains(path, "/tags/list"):
		return "tags"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return "other"
}

// registryProc is the registry process as the harness sees it.
type registryProc struct {
	Addr string
	cmd  *exec.Cmd
}

// startRegistry runs `fleet registry` (this program) as its own process.
func startRegistry(dir string) (*registryProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "registry.addr")
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "registry", "-root", filepath.Join(dir, "registry"), "-addr-file", addrFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 200 {
		if data, err := os.ReadFile(addrFile); err == nil {
			return &registryProc{Addr: string(data), cmd: cmd}, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("registry did not start; see %s", logFile.Name())
}

func (r *registryProc) counts() (regCounts, error) {
	var c regCounts
	resp, err := http.Get("http://" + r.Addr + countsPath)
	if err != nil {
		return c, fmt.Errorf("registry counts: %w", err)
	}
	defer resp.Body.Close()
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

func (r *registryProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// subMap is a - b, key by key, without the keys that come to zero.
func subMap(a, b map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range a {
		d[k] = v
	}
	for k, v := range b {
		d[k] -= v
	}
	for k, v := range d {
		if v == 0 {
			delete(d, k)
		}
	}
	return d
}
