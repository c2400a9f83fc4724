package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // access controller
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // storage driver
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"   // storage driver
	"github.com/sirupsen/logrus"
)

// Options configure a Server. The zero value serves from memory on a random
// loopback port.
type Options struct {
	// Root is the storage directory; empty keeps everything in memory.
	Root string
	// Addr is the listen address; empty picks a free loopback port.
	Addr string
	// Log receives the registry's access and error log; nil discards it.
	Log io.Writer
	// Htpasswd is the path of an htpasswd file with bcrypt entries; when set,
	// every request needs basic auth from one of its users.
	Htpasswd string
	// TLS, when set, serves HTTPS with this configuration (certificates,
	// and client authentication if it asks for it); nil serves plain HTTP.
	TLS *tls.Config
	// ReadOnly refuses pushes, tag moves and deletes (405, UNSUPPORTED, with
	// ReadOnlyMessage); pulls work.
	ReadOnly bool
	// Wrap, when set, wraps the registry's handler, e.g. to inject faults.
	Wrap func(http.Handler) http.Handler
}

// Server is a running registry.
type Server struct {
	// Addr is the host:port the registry listens on.
	Addr string
	srv  *http.Server
	// done is closed when the server has stopped, with err saying why.
	done chan struct{}
	err  error
	// stopped is closed once Close or Abort has finished stopping srv; the
	// root's lock is held until then, so a collection never starts while
	// requests drain.
	stopped  chan struct{}
	stopOnce sync.Once
	lock     *rootLock
}

// allowedLayerURLs is the pattern layer URLs in pushed manifests must match.
// The registry's default allows none and answers such a push with a 500;
// the distribution spec accepts non-distributable layers that name where
// their bytes live, and the registry never fetches those URLs itself.
const allowedLayerURLs = "^https?://"

// DefaultAddr is where `sealift registry serve` listens unless told otherwise:
// loopback only, so nothing is exposed by accident.
const DefaultAddr = "127.0.0.1:5000"

// Start listens and serves until Close or ctx ends. A server with a Root
// holds the root's lock (LockFile) shared while it runs, so GC refuses to
// collect under it; Start fails with ErrRootInUse while a collection runs.
func Start(ctx context.Context, opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if opts.Htpasswd != "" {
		if err := CheckHtpasswd(opts.Htpasswd); err != nil {
			return nil, err
		}
	}
	var lock *rootLock
	if opts.Root != "" {
		if err := os.MkdirAll(opts.Root, 0o755); err != nil {
			return nil, fmt.Errorf("registry root %s: %w", opts.Root, err)
		}
		var err error
		if lock, err = lockRoot(opts.Root, false); err != nil {
			return nil, err
		}
	}
	cfg := &configuration.Configuration{}
	cfg.Version = configuration.CurrentVersion
	if opts.Root != "" {
		cfg.Storage = configuration.Storage{"filesystem": configuration.Parameters{"rootdirectory": opts.Root}}
	} else {
		cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}}
	}
	cfg.Storage["delete"] = configuration.Parameters{"enabled": true}
	cfg.Storage["maintenance"] = configuration.Parameters{
		"uploadpurging": map[any]any{"enabled": false},
		"readonly":      map[any]any{"enabled": opts.ReadOnly},
	}
	cfg.Validation.Manifests.URLs.Allow = []string{allowedLayerURLs}
	cfg.HTTP.Addr = addr
	if opts.Htpasswd != "" {
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "sealift", "path": opts.Htpasswd}}
	}
	cfg.Log.AccessLog.Disabled = opts.Log == nil
	cfg.Log.Level = "error"
	w := opts.Log
	if w == nil {
		w = io.Discard
	}
	logrus.SetOutput(w)
	logrus.SetLevel(logrus.ErrorLevel)

	var handler http.Handler = handlers.NewApp(ctx, cfg)
	if opts.ReadOnly {
		handler = readOnly(handler)
	}
	if opts.Wrap != nil {
		handler = opts.Wrap(handler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("registry: listen on %s: %w", addr, err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS.Clone())
	}
	s := &Server{
		Addr:    ln.Addr().String(),
		srv:     &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(w, "registry: ", 0)},
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		lock:    lock,
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
			<-s.stopped
		}
		s.lock.release()
		s.err = err
		close(s.done)
	}()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return s, nil
}

// Wait blocks until the server stops and returns why; any number of callers
// may wait.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Close stops the server, letting requests in flight finish for a moment.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.stopOnce.Do(func() { close(s.stopped) })
	return err
}

// Abort stops the server at once, dropping requests in flight.
func (s *Server) Abort() error {
	err := s.srv.Close()
	s.stopOnce.Do(func() { close(s.stopped) })
	return err
}
