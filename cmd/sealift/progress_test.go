package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

// Upload progress counts what the push sends, and counting does not cost
// the push its retries: a blob upload answered 503 once is sent again.
func TestPushProgressCountsUploadsAndKeepsRetries(t *testing.T) {
	faults := registrytest.NewFaults(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")
	}, registrytest.Fault{Status: http.StatusServiceUnavailable})
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: faults.Wrap})
	ref, repo := reg.Repository(t, "team/app", "v1")
	var nilProgress *progress
	ac := repo.Client.(*auth.Client)
	before := ac.Client
	nilProgress.trackUploads(repo)
	if ac.Client != before {
		t.Fatal("a nil progress replaced the repository's HTTP client")
	}

	var out bytes.Buffer
	p := newProgress(&out, "pushing")
	p.trackUploads(repo)
	if ac.Client == before {
		t.Fatal("tracking uploads left the HTTP client as it was")
	}
	desc, err := push.Push(context.Background(), "../../examples/podinfo", repo, ref.Tag, push.Options{})
	p.finish()
	if err != nil {
		t.Fatalf("push with one 503 on a blob upload: %v", err)
	}
	if n := len(faults.Arrivals()); n < 3 {
		t.Errorf("%d blob uploads reached the registry, want the failed one retried (>= 3 for layer, config and a retry)", n)
	}
	// The layer is most of what is sent; the manifest is desc.Size bytes.
	if got := p.n.Load(); got <= desc.Size {
		t.Errorf("counted %d uploaded bytes, want more than the %d-byte manifest", got, desc.Size)
	}
	if _, err := repo.Resolve(context.Background(), "v1"); err != nil {
		t.Errorf("pushed artifact not resolvable: %v", err)
	}
}
