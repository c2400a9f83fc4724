package controller

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/internal/registrytest"
)

// writeCounter records the API requests that change something.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			c.mu.Lock()
			c.writes = append(c.writes, req.Method+" "+req.URL.Path)
			c.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (c *writeCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

// TestControllerSteadyStateCost: once a Sync is applied and nothing
// changes, each reconcile costs one registry request (a HEAD of the tag)
// and no API write — counted at the registry and on the wire to the API
// server.
func TestControllerSteadyStateCost(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-steady", "ctl-steady-app"
	createNamespace(t, ns)
	access := &registrytest.Access{}
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: access.Wrap})
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/steady", "stable", app(t, appNS, "one"), time.Time{}, key)
	writes := &writeCounter{}
	startController(t, ns, func(o *Options) {
		cfg := rest.CopyConfig(env.Config)
		cfg.Wrap(writes.wrap)
		o.RestConfig = cfg
	})
	s := newSync(ns, "steady", "oci://"+reg.Repo("apps/steady"), "stable", time.Second, key)
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "steady", desc.Digest.String())
	// One more reconcile after the first apply, so the drift watch for
	// the applied kinds is up and every status field has settled.
	first := reconciles(t, ns, "steady", resultSuccess)
	eventually(t, 30*time.Second, "a second reconcile", func() (bool, string) {
		n := reconciles(t, ns, "steady", resultSuccess)
		return n > first, fmt.Sprint(n)
	})

	access.Reset()
	writes.take()
	start := reconciles(t, ns, "steady", resultSuccess)
	eventually(t, 60*time.Second, "three unchanged reconciles", func() (bool, string) {
		n := reconciles(t, ns, "steady", resultSuccess)
		return n >= start+3, fmt.Sprint(n)
	})
	requests := access.Requests()
	done := reconciles(t, ns, "steady", resultSuccess) - start
	heads := 0
	for _, r := range requests {
		if r.Method == http.MethodHead && strings.Contains(r.Path, "/manifests/stable") {
			heads++
		}
	}
	// A reconcile may have been in flight at either end of the window.
	if heads != len(requests) || float64(len(requests)) > done+1 || float64(len(requests)) < done-1 {
		t.Errorf("%v reconciles sent %d registry requests (%d HEADs of the tag), want one HEAD each: %+v", done, len(requests), heads, requests)
	}
	if w := writes.take(); len(w) != 0 {
		t.Errorf("%v unchanged reconciles wrote to the API server: %v", done, w)
	}
}
