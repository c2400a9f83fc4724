package pull

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealift-dev/sealift/internal/inflight"
	"github.com/sealift-dev/sealift/internal/limits"
)

// RequestObserver sees the registry traffic of the whole process: every
// attempt of every request (retries included) and every wait a registry's
// Retry-After imposed. A controller turns it into metrics; it must be
// cheap and safe for concurrent use.
type RequestObserver interface {
	// RegistryRequest is called once per attempt when its response
	// headers arrive (code is the HTTP status) or it failed (code 0, err
	// set). bytes is the response's Content-Length, or 0 when unknown.
	RegistryRequest(host, method string, code int, bytes int64, err error)
	// RegistryWait is called when a request waited d before being sent
	// because the registry had asked every client to back off.
	RegistryWait(host string, d time.Duration)
}

var observer atomic.Pointer[RequestObserver]

// SetRequestObserver installs o for every registry client of the process
// (nil removes it). The transport is process-wide, so is its observer.
func SetRequestObserver(o RequestObserver) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&o)
}

func currentObserver() RequestObserver {
	if p := observer.Load(); p != nil {
		return *p
	}
	return nil
}

// gates holds one gate per registry host for the whole process, so the
// bound and a registry's request to back off hold for every Sync and every
// client, not for the one request that saw the 429.
var gates = &gateSet{m: map[string]*gate{}}

type gateSet struct {
	mu sync.Mutex
	m  map[string]*gate
}

// gate bounds the requests in flight to one registry and holds them while
// the registry has asked clients to wait (Retry-After on 429 or 503).
type gate struct {
	slots *inflight.Limit
	mu    sync.Mutex
	until time.Time
}

func (s *gateSet) get(host string) *gate {
	host = strings.ToLower(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.m[host]
	if !ok {
		g = &gate{slots: inflight.New(limits.MaxRegistryRequestsInFlight)}
		s.m[host] = g
	}
	return g
}

// pause makes every request to the registry wait until now+d; a shorter
// pause never cuts a longer one short.
func (g *gate) pause(d time.Duration) {
	until := time.Now().Add(d)
	g.mu.Lock()
	if until.After(g.until) {
		g.until = until
	}
	g.mu.Unlock()
}

// enter waits for the registry's pause to end and a slot to be free. It
// returns how long the pause held it.
func (g *gate) enter(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		g.mu.Unlock()
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return waited, ctx.Err()
		case <-t.C:
			waited += d
		}
	}
	return waited, g.slots.Acquire(ctx)
}

// gatedTransport sends each attempt through its registry's gate and tells
// the observer about it. It sits under the retry transport, so a retry
// waits for the gate again.
type gatedTransport struct {
	base http.RoundTripper
}

func (t gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	g := gates.get(host)
	obs := currentObserver()
	waited, err := g.enter(req.Context())
	if waited > 0 && obs != nil {
		obs.RegistryWait(host, waited)
	}
	if err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		g.slots.Release()
		if obs != nil {
			obs.RegistryRequest(host, req.Method, 0, 0, err)
		}
		return nil, err
	}
	if d, ok := retryAfter(resp, time.Now()); ok && d > 0 {
		g.pause(d)
	}
	if obs != nil {
		obs.RegistryRequest(host, req.Method, resp.StatusCode, max(resp.ContentLength, 0), nil)
	}
	// The slot is held until the body is read or closed: a blob download
	// is in flight until then.
	g.slots.Hold(resp)
	return resp, nil
}
