package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// progressDelay is how long a transfer runs before progress is shown: quick
// pulls print nothing but their result.
const progressDelay = time.Second

// progressInterval is how often the progress line is redrawn.
const progressInterval = 200 * time.Millisecond

// progress draws "pulling 1.2 MB of 5.0 MB" on a terminal while a transfer
// runs longer than progressDelay. A nil *progress does nothing, which is
// what pipes, files and -o json get.
type progress struct {
	w     io.Writer
	verb  string
	total atomic.Int64
	n     atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

// startProgress returns a progress writing to w, or nil when w is not a
// terminal.
func startProgress(w io.Writer, verb string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgress(w, verb)
}

// newProgress starts drawing on w, terminal or not.
func newProgress(w io.Writer, verb string) *progress {
	p := &progress{w: w, verb: verb, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *progress) run() { drawUntil(p.w, p.stop, p.done, p.draw) }

// drawUntil draws a progress line every progressInterval, starting after
// progressDelay (a quick command prints nothing), until stop is closed;
// then it draws the last state, ends the line and closes done.
func drawUntil(w io.Writer, stop <-chan struct{}, done chan<- struct{}, draw func()) {
	defer close(done)
	delay := time.NewTimer(progressDelay)
	defer delay.Stop()
	select {
	case <-stop:
		return
	case <-delay.C:
	}
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		draw()
		select {
		case <-stop:
			draw()
			fmt.Fprintln(w)
			return
		case <-tick.C:
		}
	}
}

func (p *progress) draw() {
	line := fmt.Sprintf("\r%s %s", p.verb, mb(p.n.Load()))
	if total := p.total.Load(); total > 0 {
		line += " of " + mb(total)
	}
	fmt.Fprint(p.w, line+"   ")
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// expect adds to the bytes the transfer will move.
func (p *progress) expect(n int64) {
	if p != nil {
		p.total.Add(n)
	}
}

// finish stops drawing and ends the line if one was drawn.
func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

// counting reads through to the source and counts every byte for p.
type counting struct {
	oras.ReadOnlyTarget
	p *progress
}

// track returns src, counting what is fetched from it when p is not nil.
func (p *progress) track(src oras.ReadOnlyTarget) oras.ReadOnlyTarget {
	if p == nil {
		return src
	}
	return counting{ReadOnlyTarget: src, p: p}
}

func (c counting) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	c.p.expect(desc.Size)
	return countingReader{ReadCloser: rc, n: &c.p.n}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n.Add(int64(n))
	return n, err
}

// trackUploads counts the request bodies repo sends for p. The count sits
// above the client's retries: a retried upload rewinds to a fresh body
// (GetBody is kept), so retries still happen and are simply not counted.
func (p *progress) trackUploads(repo *remote.Repository) {
	if p == nil {
		return
	}
	ac, ok := repo.Client.(*auth.Client)
	if !ok || ac.Client == nil {
		return
	}
	hc := *ac.Client
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = uploadCounter{base: base, n: &p.n}
	ac.Client = &hc
}

// uploadCounter counts the bytes of request bodies as they are sent.
type uploadCounter struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (u uploadCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return u.base.RoundTrip(req)
	}
	counted := req.Clone(req.Context())
	counted.Body = countingReader{ReadCloser: req.Body, n: u.n}
	return u.base.RoundTrip(counted)
}
