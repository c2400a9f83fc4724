package registrytest

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Fault is one answer served instead of the registry's.
type Fault struct {
	// Status is the HTTP status to answer with; 0 drops the connection
	// without answering, the way a reset or a crashed proxy does.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
}

// Faults is middleware that answers the requests it matches with queued
// faults, in order, and passes them to the registry once the queue is empty.
// It records when each matching request arrived.
type Faults struct {
	match func(*http.Request) bool

	mu       sync.Mutex
	pending  []Fault
	arrivals []time.Time
}

// NewFaults returns middleware serving faults to the requests match accepts
// (all requests when match is nil).
func NewFaults(match func(*http.Request) bool, faults ...Fault) *Faults {
	return &Faults{match: match, pending: faults}
}

// Wrap puts f in front of next; pass it as Options.Wrap.
func (f *Faults) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.match != nil && !f.match(r) {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		f.arrivals = append(f.arrivals, time.Now())
		var fault *Fault
		if len(f.pending) > 0 {
			fault = &f.pending[0]
			f.pending = f.pending[1:]
		}
		f.mu.Unlock()
		if fault == nil {
			next.ServeHTTP(w, r)
			return
		}
		if fault.Status == 0 {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // aborts the response without answering
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		http.Error(w, http.StatusText(fault.Status), fault.Status)
	})
}

// Inject queues more faults and forgets earlier arrivals, so a test can set
// content up through the middleware first and then arm it.
func (f *Faults) Inject(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, faults...)
	f.arrivals = nil
}

// Arrivals returns when each matching request arrived, in order.
func (f *Faults) Arrivals() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.arrivals...)
}

// Pending returns how many faults are still queued.
func (f *Faults) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// Corrupt returns middleware that flips one byte in the body of every
// response to a request match accepts, keeping its length and headers: a
// registry or proxy serving different bytes under the same digest.
func Corrupt(match func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !match(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			maps.Copy(w.Header(), rec.Header())
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}
}
