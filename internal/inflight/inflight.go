package inflight

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// Limit is a bound on requests in flight. Its zero value is unusable; use
// New. It is safe for concurrent use.
type Limit struct {
	slots chan struct{}
}

// New returns a Limit of n requests (at least 1).
func New(n int) *Limit {
	return &Limit{slots: make(chan struct{}, max(n, 1))}
}

// Acquire waits for a free slot or for ctx to end.
func (l *Limit) Acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release frees a slot taken by Acquire.
func (l *Limit) Release() { <-l.slots }

// Hold keeps the slot taken for resp until its body has been read to the
// end or closed, whichever comes first; the slot is freed once.
func (l *Limit) Hold(resp *http.Response) {
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: l.Release}
}

// Transport returns a RoundTripper that sends each request through l
// unless exempt reports true for it (long-lived requests such as watches,
// which would hold a slot for their whole life).
func (l *Limit) Transport(base http.RoundTripper, exempt func(*http.Request) bool) http.RoundTripper {
	return &transport{base: base, limit: l, exempt: exempt}
}

type transport struct {
	base   http.RoundTripper
	limit  *Limit
	exempt func(*http.Request) bool
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.exempt != nil && t.exempt(req) {
		return t.base.RoundTrip(req)
	}
	if err := t.limit.Acquire(req.Context()); err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.limit.Release()
		return nil, err
	}
	t.limit.Hold(resp)
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
