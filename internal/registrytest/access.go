package registrytest

import (
	"net/http"
	"sync"
)

// Request is one request a registry received, as Access recorded it.
type Request struct {
	Method, Path string
	// Authorization is the header as sent: what credentials the client
	// handed this registry.
	Authorization string
	// TLS is true when the request came over TLS.
	TLS bool
}

// Access is middleware that records every request before the registry
// sees it, so a test can check what a server was sent (credentials, plain
// HTTP) rather than what the client meant to send.
type Access struct {
	mu   sync.Mutex
	reqs []Request
}

// Wrap puts a in front of next; pass it as Options.Wrap.
func (a *Access) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, Request{
			Method: r.Method, Path: r.URL.Path,
			Authorization: r.Header.Get("Authorization"), TLS: r.TLS != nil,
		})
		a.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Requests returns what was recorded so far.
func (a *Access) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.reqs...)
}

// Reset forgets what was recorded.
func (a *Access) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = nil
}
