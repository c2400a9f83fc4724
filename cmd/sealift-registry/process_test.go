package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registry"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/internal/signtest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/verify"
)

// asMainEnv makes the test binary run main() instead of the tests, so the
// tests can run sealift-registry as the process it is in production.
const asMainEnv = "SEALIFT_REGISTRY_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startupBound bounds the wait for a server process's first line, so a
// broken start fails the test instead of hanging it.
const startupBound = 2 * time.Minute

var servingLine = regexp.MustCompile(`serving registry on (https?)://(\S+) from (.*)$`)

// proc is a sealift-registry (or sealift) process a test started.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	line   string // the "serving registry on" line
	exited chan error
}

// command returns the test binary as sealift-registry with args.
func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

// serveProcess starts cmd, a server, and waits until it says where it
// serves. The process is stopped when the test ends.
func serveProcess(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.After(startupBound)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%v exited before serving: %v", cmd.Args, <-p.exited)
			}
			if m := servingLine.FindStringSubmatch(l); m != nil {
				p.addr, p.line = m[2], l
				return p
			}
			t.Logf("server: %s", l)
		case <-deadline:
			t.Fatalf("%v did not serve within %s", cmd.Args, startupBound)
		}
	}
}

// stop sends SIGTERM and wants a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("server exit after SIGTERM: %v", err)
		}
	case <-time.After(startupBound):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// runProcess runs cmd to its end and returns its stdout, stderr and error.
func runProcess(t *testing.T, cmd *exec.Cmd) (string, string, error) {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func repoAt(t *testing.T, host string, opts pull.RemoteOptions) *remote.Repository {
	t.Helper()
	ref, err := pull.ParseReference("oci://" + host + "/team/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func manifestsDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The binary as an air-gapped site runs it: TLS from certificate files
// issued by a test CA, htpasswd auth, gc refused while it serves and run
// once it stopped, then read-only serving of what is left.
func TestHardenedServerProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	cert := registrytest.NewServerCert(t, dir, "127.0.0.1")
	htpasswd := registrytest.WriteHtpasswd(t, dir, map[string]string{"ci": "s3cret"})
	serveArgs := []string{"serve", "--root", root, "--addr", "127.0.0.1:0", "--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--htpasswd", htpasswd}

	srv := serveProcess(t, command(serveArgs...))
	if !strings.HasPrefix(srv.line, "serving registry on https://") || !strings.Contains(srv.line, "htpasswd auth") {
		t.Errorf("start line %q, want https and htpasswd auth", srv.line)
	}
	good := pull.RemoteOptions{CAFile: cert.CAFile, Username: "ci", Password: "s3cret"}
	repo := repoAt(t, srv.addr, good)
	key := signtest.NewKeyPair(t)
	signed, err := push.Push(ctx, manifestsDir(t, "kept"), repo, "v1", push.Options{})
	if err != nil {
		t.Fatalf("push over TLS with the right password: %v", err)
	}
	if err := cosignfmt.SignLegacy(ctx, repo, signed, srv.addr+"/team/app", key.Signer); err != nil {
		t.Fatal(err)
	}
	bundle, err := cosignfmt.SignBundle(ctx, repo, signed, key.Signer)
	if err != nil {
		t.Fatal(err)
	}

	wrong := repoAt(t, srv.addr, pull.RemoteOptions{CAFile: cert.CAFile, Username: "ci", Password: "guess"})
	var resp *errcode.ErrorResponse
	if _, err := wrong.Resolve(ctx, "v1"); !errors.As(err, &resp) || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("resolve with a wrong password: err = %v, want 401", err)
	}
	if _, err := (&http.Client{}).Get("https://" + srv.addr + "/v2/"); err == nil {
		t.Error("a client without the test CA reached the server")
	}

	dropped, err := push.Push(ctx, manifestsDir(t, "dropped"), repo, "v2", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Delete(ctx, dropped); err != nil {
		t.Fatal(err)
	}
	stray := content.NewDescriptorFromBytes("application/octet-stream", []byte("never referenced"))
	if err := repo.Push(ctx, stray, strings.NewReader("never referenced")); err != nil {
		t.Fatal(err)
	}

	_, stderr, err := runProcess(t, command("gc", "--root", root))
	if err == nil || !strings.Contains(stderr, "served by a running registry") {
		t.Errorf("gc while serving: err = %v, stderr %q; want a refusal naming the running registry", err, stderr)
	}
	srv.stop(t)

	stdout, _, err := runProcess(t, command("gc", "--root", root, "--dry-run"))
	if err != nil {
		t.Fatalf("gc --dry-run: %v", err)
	}
	if !strings.Contains(stdout, "would delete blob "+stray.Digest.String()) || !strings.Contains(stdout, "nothing was deleted") {
		t.Errorf("gc --dry-run printed %q, want the stray blob listed and nothing deleted", stdout)
	}
	stdout, _, err = runProcess(t, command("gc", "--root", root, "--json"))
	if err != nil {
		t.Fatalf("gc --json: %v", err)
	}
	var rep registry.GCReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("gc --json printed %q: %v", stdout, err)
	}
	var gone []digest.Digest
	for _, b := range rep.Deleted {
		gone = append(gone, b.Digest)
	}
	for _, d := range []digest.Digest{stray.Digest, dropped.Digest} {
		if !slices.Contains(gone, d) {
			t.Errorf("gc deleted %v, want %s among them", gone, d)
		}
	}
	for _, d := range []digest.Digest{signed.Digest, bundle.Digest} {
		if slices.Contains(gone, d) {
			t.Errorf("gc deleted %s, a signed artifact or its signature", d)
		}
	}

	ro := serveProcess(t, command(append(serveArgs, "--read-only")...))
	if !strings.Contains(ro.line, "read-only") {
		t.Errorf("start line %q, want read-only", ro.line)
	}
	repo = repoAt(t, ro.addr, good)
	if err := pull.Fetch(ctx, repo, signed, memory.New(), pull.FetchOptions{}); err != nil {
		t.Errorf("pull from the read-only server after gc: %v", err)
	}
	pub, err := cosignfmt.LoadPublicKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verify.Verify(ctx, repo, signed, verify.Policy{Keys: []crypto.PublicKey{pub}}); err != nil || !v.Verified {
		t.Errorf("verify on the read-only server after gc: %+v, %v", v, err)
	}
	_, err = push.Push(ctx, manifestsDir(t, "refused"), repo, "v3", push.Options{})
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("push to the read-only server: err = %v, want 405 saying read-only", err)
	}
	ro.stop(t)
}

// `sealift registry serve` and `sealift registry gc` hand their flags to
// the sealift-registry beside them.
func TestSealiftRegistryCommandsRunTheServer(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "sealift"), "github.com/sealift-dev/sealift/cmd/sealift")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sealift: %v\n%s", err, out)
	}
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "sealift-registry")); err != nil {
		t.Fatal(err)
	}
	sealift := func(args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "sealift"), args...)
		cmd.Env = append(os.Environ(), asMainEnv+"=1")
		return cmd
	}

	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	cert := registrytest.NewServerCert(t, dir, "127.0.0.1")
	htpasswd := registrytest.WriteHtpasswd(t, dir, map[string]string{"ops": "pw"})
	srv := serveProcess(t, sealift("registry", "serve", "--root", root, "--addr", "127.0.0.1:0",
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--htpasswd", htpasswd, "--read-only"))
	for _, want := range []string{"https://", "htpasswd auth from " + htpasswd, "read-only"} {
		if !strings.Contains(srv.line, want) {
			t.Errorf("start line %q lacks %q", srv.line, want)
		}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+srv.addr+"/v2/", nil)
	req.SetBasicAuth("ops", "pw")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ = %d, want 200", resp.StatusCode)
	}
	_, stderr, err := runProcess(t, sealift("registry", "gc", "--root", root))
	if err == nil || !strings.Contains(stderr, "served by a running registry") {
		t.Errorf("sealift registry gc while serving: err = %v, stderr %q", err, stderr)
	}
	srv.stop(t)

	// Nothing was pushed, so the root has no content yet: gc says so.
	_, stderr, err = runProcess(t, sealift("registry", "gc", "--root", root, "--dry-run", "-o", "json"))
	if err == nil || !strings.Contains(stderr, "holds no registry content") {
		t.Errorf("sealift registry gc on an empty root: err = %v, stderr %q", err, stderr)
	}
}
