package registry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registry"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// start runs a registry for the test and returns it.
func start(t *testing.T, opts registry.Options) *registry.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Abort()
		cancel()
		_ = srv.Wait()
	})
	return srv
}

// stop stops srv and waits until it has let its root go.
func stop(t *testing.T, srv *registry.Server) {
	t.Helper()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatal(err)
	}
}

// repository is a client for host/name as sealift builds one.
func repository(t *testing.T, host, name string, opts pull.RemoteOptions) *remote.Repository {
	t.Helper()
	ref, err := pull.ParseReference("oci://" + host + "/" + name + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// appDir writes a one-file manifest directory whose content is unique to
// name.
func appDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  owner: " + name + "\n"
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func get(t *testing.T, c *http.Client, url, user, pass string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp
}

// A registry serving TLS with a certificate from files is reached by a
// client trusting the test CA and refused by one that does not.
func TestServesTLSFromCertificateFiles(t *testing.T) {
	cert := registrytest.NewServerCert(t, t.TempDir(), "127.0.0.1")
	tlsCfg, err := registry.ServerTLS(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, registry.Options{Root: t.TempDir(), TLS: tlsCfg})

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	if resp := get(t, trusting, "https://"+srv.Addr+"/v2/", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ over TLS = %d, want 200", resp.StatusCode)
	}
	// A push and a pull through sealift's own client, trusting the CA file.
	repo := repository(t, srv.Addr, "team/app", pull.RemoteOptions{CAFile: cert.CAFile})
	desc, err := push.Push(context.Background(), appDir(t, "tls"), repo, "v1", push.Options{})
	if err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	if got, err := repo.Resolve(context.Background(), "v1"); err != nil || got.Digest != desc.Digest {
		t.Errorf("resolve over TLS = %v, %v; want %s", got.Digest, err, desc.Digest)
	}

	_, err = (&http.Client{}).Get("https://" + srv.Addr + "/v2/")
	var unknown *tls.CertificateVerificationError
	if !errors.As(err, &unknown) {
		t.Errorf("GET without the CA: err = %v, want an unknown-authority error", err)
	}
	plain, err := http.Get("http://" + srv.Addr + "/v2/")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port = %d, want a refusal", plain.StatusCode)
		}
	}
}

func TestServerTLSRefusesBadFiles(t *testing.T) {
	a := registrytest.NewServerCert(t, t.TempDir())
	b := registrytest.NewServerCert(t, t.TempDir())
	tests := map[string]struct {
		cert, key string
		want      string
	}{
		"missing certificate": {filepath.Join(t.TempDir(), "none.pem"), a.KeyFile, "none.pem"},
		"key of another cert": {a.CertFile, b.KeyFile, "private key does not match"},
		"key for certificate": {a.CertFile, a.CertFile, a.CertFile},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := registry.ServerTLS(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// With an htpasswd file, requests need a listed user and the right
// password; a wrong one is refused as unauthorized.
func TestHtpasswdAuth(t *testing.T) {
	dir := t.TempDir()
	htpasswd := registrytest.WriteHtpasswd(t, dir, map[string]string{"ci": "s3cret"})
	srv := start(t, registry.Options{Root: t.TempDir(), Htpasswd: htpasswd})
	c := &http.Client{}
	url := "http://" + srv.Addr + "/v2/"
	tests := map[string]struct {
		user, pass string
		want       int
	}{
		"no credentials": {"", "", http.StatusUnauthorized},
		"wrong password": {"ci", "guess", http.StatusUnauthorized},
		"unknown user":   {"root", "s3cret", http.StatusUnauthorized},
		"right password": {"ci", "s3cret", http.StatusOK},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp := get(t, c, url, tc.user, tc.pass)
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v2/ = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	wrong := repository(t, srv.Addr, "team/app", pull.RemoteOptions{PlainHTTP: true, Username: "ci", Password: "guess"})
	_, err := push.Push(context.Background(), appDir(t, "auth"), wrong, "v1", push.Options{})
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("push with a wrong password: err = %v, want 401", err)
	}
	right := repository(t, srv.Addr, "team/app", pull.RemoteOptions{PlainHTTP: true, Username: "ci", Password: "s3cret"})
	if _, err := push.Push(context.Background(), appDir(t, "auth"), right, "v1", push.Options{}); err != nil {
		t.Errorf("push with the right password: %v", err)
	}
}

func TestCheckHtpasswd(t *testing.T) {
	dir := t.TempDir()
	good := registrytest.WriteHtpasswd(t, dir, map[string]string{"ci": "pw"})
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]struct {
		path string
		want string // "" for no error
	}{
		"bcrypt entries":   {good, ""},
		"comments too":     {write("commented", "# ops team\n\n"+mustRead(t, good)), ""},
		"missing file":     {filepath.Join(dir, "typo"), "no such file"},
		"empty":            {write("empty", "\n# nobody\n"), "holds no user"},
		"md5 entry":        {write("md5", "ops:$apr1$Dlw2F8nF$X2oS7KL8Zc3oJkV9bGZ5k/\n"), `user "ops": the hash is not bcrypt`},
		"plain password":   {write("plain", "ops:hunter2\n"), "line 1"},
		"no colon":         {write("nocolon", mustRead(t, good)+"ops\n"), "line 2: want USER:BCRYPT-HASH"},
		"empty user":       {write("nouser", ":"+strings.SplitN(mustRead(t, good), ":", 2)[1]), "line 1"},
		"larger than caps": {write("huge", strings.Repeat("#", 2<<20)), "larger than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := registry.CheckHtpasswd(tc.path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckHtpasswd: %v", err)
				}
				return
			}
			if !errors.Is(err, registry.ErrBadHtpasswd) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrBadHtpasswd mentioning %q", err, tc.want)
			}
		})
	}
	// A server is not started on a missing file, and the file is not made
	// for it (the registry's own controller would write one with a random
	// password).
	missing := filepath.Join(dir, "absent", "htpasswd")
	if _, err := registry.Start(context.Background(), registry.Options{Htpasswd: missing}); !errors.Is(err, registry.ErrBadHtpasswd) {
		t.Errorf("Start with a missing htpasswd: err = %v, want ErrBadHtpasswd", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("htpasswd %s exists after a refused start: %v", missing, err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A read-only registry serves what its root holds and refuses pushes, tag
// moves and deletes with a message saying why.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writable := start(t, registry.Options{Root: root})
	desc, err := push.Push(ctx, appDir(t, "ro"), repository(t, writable.Addr, "team/app", pull.RemoteOptions{PlainHTTP: true}), "v1", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop(t, writable)

	srv := start(t, registry.Options{Root: root, ReadOnly: true})
	repo := repository(t, srv.Addr, "team/app", pull.RemoteOptions{PlainHTTP: true})
	got, err := repo.Resolve(ctx, "v1")
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("resolve on the read-only registry = %v, %v; want %s", got.Digest, err, desc.Digest)
	}
	if err := pull.Fetch(ctx, repo, desc, memory.New(), pull.FetchOptions{}); err != nil {
		t.Errorf("pull from the read-only registry: %v", err)
	}

	refused := func(op string, err error) {
		t.Helper()
		var resp *errcode.ErrorResponse
		if !errors.As(err, &resp) || resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: err = %v, want 405", op, err)
			return
		}
		if !strings.Contains(err.Error(), registry.ReadOnlyMessage) {
			t.Errorf("%s: err = %v, want it to say %q", op, err, registry.ReadOnlyMessage)
		}
	}
	_, err = push.Push(ctx, appDir(t, "ro-new"), repo, "v2", push.Options{})
	refused("push", err)
	refused("tag", repo.Tag(ctx, desc, "moved"))
	refused("delete", repo.Delete(ctx, desc))
	if got, err := repo.Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
		t.Errorf("after the refused delete, v1 = %v, %v; want %s", got.Digest, err, desc.Digest)
	}
	if _, err := repo.Resolve(ctx, "moved"); !errors.Is(err, errdef.ErrNotFound) && !isNotFound(err) {
		t.Errorf("the refused tag exists: %v", err)
	}
}

func isNotFound(err error) bool {
	var resp *errcode.ErrorResponse
	return err != nil && (errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound || strings.Contains(err.Error(), "not found"))
}

// blobsOnDisk lists the blobs a filesystem root holds, read from the
// directory tree itself.
func blobsOnDisk(t *testing.T, root string) map[digest.Digest]bool {
	t.Helper()
	out := map[digest.Digest]bool{}
	base := filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256")
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "data" {
			out[digest.NewDigestFromEncoded(digest.SHA256, filepath.Base(filepath.Dir(p)))] = true
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}
