package registrytest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/internal/registry"
	"github.com/sealift-dev/sealift/pull"
)

// Options configure StartWith. The zero value is what Start runs.
type Options struct {
	// Users, when set, are the only accounts allowed in (user -> password).
	Users map[string]string
	// TLS serves HTTPS with a server certificate for 127.0.0.1 issued by a CA
	// made for this registry (see Registry.CAFile).
	TLS bool
	// ClientCerts, with TLS, refuses clients without a certificate from the
	// same CA (see Registry.ClientCertFile).
	ClientCerts bool
	// Wrap wraps the registry's handler, e.g. Faults.Wrap.
	Wrap func(http.Handler) http.Handler
}

// Registry is a running test registry.
type Registry struct {
	// Host is host:port, e.g. 127.0.0.1:41234.
	Host string
	// CAFile is the PEM CA that issued the server and client certificates;
	// empty without TLS.
	CAFile string
	// ClientCertFile and ClientKeyFile are a client certificate and key
	// issued by the CA; empty without TLS.
	ClientCertFile, ClientKeyFile string
	srv                           *registry.Server
}

// Start runs a plain HTTP registry open to all for the duration of the test.
func Start(t testing.TB) *Registry {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs a registry configured by opts for the duration of the test.
func StartWith(t testing.TB, opts Options) *Registry {
	t.Helper()
	r := &Registry{}
	ropts := registry.Options{Wrap: opts.Wrap}
	dir := t.TempDir()
	if len(opts.Users) > 0 {
		ropts.Htpasswd = WriteHtpasswd(t, dir, opts.Users)
	}
	if opts.TLS {
		pki := newPKI(t, dir)
		r.CAFile, r.ClientCertFile, r.ClientKeyFile = pki.caFile, pki.clientCertFile, pki.clientKeyFile
		ropts.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
		if opts.ClientCerts {
			ropts.TLS.ClientAuth = tls.RequireAndVerifyClientCert
			ropts.TLS.ClientCAs = pki.pool
		}
	} else if opts.ClientCerts {
		t.Fatal("registrytest: ClientCerts needs TLS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.Start(ctx, ropts)
	if err != nil {
		cancel()
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Abort()
		cancel()
	})
	r.Host, r.srv = srv.Addr, srv
	return r
}

// WriteHtpasswd writes an htpasswd file of bcrypt entries for users (user
// -> password) into dir, as `htpasswd -B` would, and returns its path.
func WriteHtpasswd(t testing.TB, dir string, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	for user, pass := range users {
		// The minimum cost keeps tests fast; the registry accepts any cost.
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", user, hash)
	}
	p := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// DockerConfig writes a docker config.json holding user:pass for this
// registry, the way `docker login` leaves it, and returns its path.
func (r *Registry) DockerConfig(t testing.TB, user, pass string) string {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Close stops the registry before the test ends, to act out an outage.
func (r *Registry) Close() { _ = r.srv.Close() }

// Repo returns host/name, a repository reference without a scheme.
func (r *Registry) Repo(name string) string { return fmt.Sprintf("%s/%s", r.Host, name) }

// URL returns oci://host/name:tag.
func (r *Registry) URL(name, tag string) string {
	return fmt.Sprintf("oci://%s/%s:%s", r.Host, name, tag)
}

// Repository parses URL(name, tag) and returns it with a plain-HTTP client
// for its repository, built the way sealift builds one (retries, limits).
func (r *Registry) Repository(t testing.TB, name, tag string) (pull.Reference, *remote.Repository) {
	t.Helper()
	ref, err := pull.ParseReference(r.URL(name, tag))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return ref, repo
}
