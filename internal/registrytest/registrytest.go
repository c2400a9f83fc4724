// Package registrytest starts a real distribution registry in process on a
// loopback port for tests, with in-memory storage.
package registrytest

import (
	"context"
	"fmt"
	"testing"

	"github.com/sealift-dev/sealift/internal/registry"
)

// Registry is a running test registry.
type Registry struct {
	// Host is host:port, e.g. 127.0.0.1:41234.
	Host string
	srv  *registry.Server
}

// Start runs a registry for the duration of the test.
func Start(t testing.TB) *Registry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := registry.Start(ctx, registry.Options{})
	if err != nil {
		cancel()
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
	})
	return &Registry{Host: srv.Addr, srv: srv}
}

// Close stops the registry before the test ends, to act out an outage.
func (r *Registry) Close() { _ = r.srv.Close() }

// Repo returns host/name, a repository reference without a scheme.
func (r *Registry) Repo(name string) string { return fmt.Sprintf("%s/%s", r.Host, name) }

// URL returns oci://host/name:tag.
func (r *Registry) URL(name, tag string) string {
	return fmt.Sprintf("oci://%s/%s:%s", r.Host, name, tag)
}
