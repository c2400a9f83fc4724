package pull_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
)

// recorder is a RequestObserver that keeps what it saw, per host.
type recorder struct {
	mu       sync.Mutex
	waits    map[string]time.Duration
	requests map[string][]int // status codes
}

func (r *recorder) RegistryRequest(host, method string, code int, bytes int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[host] = append(r.requests[host], code)
}

func (r *recorder) RegistryWait(host string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits[host] += d
}

func blobRequests(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
}

// A Retry-After one request received holds every other request to that
// registry, from any client, until it has passed: one 429 slows every Sync
// that uses the registry.
func TestRetryAfterHoldsTheWholeRegistry(t *testing.T) {
	rec := &recorder{waits: map[string]time.Duration{}, requests: map[string][]int{}}
	pull.SetRequestObserver(rec)
	t.Cleanup(func() { pull.SetRequestObserver(nil) })

	manifests := registrytest.NewFaults(manifestRequests)
	blobs := registrytest.NewFaults(blobRequests)
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: func(h http.Handler) http.Handler {
		return manifests.Wrap(blobs.Wrap(h))
	}})
	opts := pull.RemoteOptions{PlainHTTP: true}
	ref, desc := pushTo(t, reg, opts)
	ctx := context.Background()

	manifests.Inject(registrytest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2"})
	blobs.Inject()
	// One client resolves the tag and is told to wait 2 s.
	first := make(chan error, 1)
	go func() {
		repo, err := pull.NewRepository(ref, opts)
		if err == nil {
			_, err = pull.Resolve(ctx, repo, ref)
		}
		first <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(manifests.Arrivals()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached the registry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	told := manifests.Arrivals()[0]
	time.Sleep(200 * time.Millisecond) // the 429 reaches the client
	// Another client, another request kind, same registry: it must wait too.
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	manifest := readManifest(t, repo, desc)
	rc, err := repo.Fetch(ctx, manifest.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, rc)
	_ = rc.Close()
	if err := <-first; err != nil {
		t.Fatalf("first client: %v", err)
	}

	arrived := blobs.Arrivals()
	if len(arrived) == 0 {
		t.Fatal("the second client's blob request never reached the registry")
	}
	// Retry-After has one-second resolution at the server; anything sent
	// before 1.5 s after the 429 ignored the pause.
	if gap := arrived[0].Sub(told); gap < 1500*time.Millisecond {
		t.Errorf("second client's request arrived %v after the 429 asking for 2s", gap)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.waits[reg.Host] <= 0 {
		t.Errorf("observer saw no wait for %s: %v", reg.Host, rec.waits)
	}
	if !contains(rec.requests[reg.Host], http.StatusTooManyRequests) || !contains(rec.requests[reg.Host], http.StatusOK) {
		t.Errorf("observer saw codes %v for %s, want a 429 and 200s", rec.requests[reg.Host], reg.Host)
	}
}

func readManifest(t *testing.T, src content.Fetcher, desc ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	data, err := content.FetchAll(context.Background(), src, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func contains(codes []int, code int) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// However many goroutines fetch from one registry, at most
// limits.MaxRegistryRequestsInFlight requests are in flight to it.
func TestRegistryRequestsInFlightBounded(t *testing.T) {
	var inFlight, peak atomic.Int64
	slow := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if blobRequests(r) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	}
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: slow})
	opts := pull.RemoteOptions{PlainHTTP: true}
	ref, desc := pushTo(t, reg, opts)
	ctx := context.Background()
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	manifest := readManifest(t, repo, desc)
	var g errgroup.Group
	for range 3 * limits.MaxRegistryRequestsInFlight {
		g.Go(func() error {
			// A repository per goroutine, as each Sync has its own.
			repo, err := pull.NewRepository(ref, opts)
			if err != nil {
				return err
			}
			rc, err := repo.Fetch(ctx, manifest.Layers[0])
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > limits.MaxRegistryRequestsInFlight || p < 2 {
		t.Errorf("peak requests in flight = %d, want 2..%d", p, limits.MaxRegistryRequestsInFlight)
	}
}
