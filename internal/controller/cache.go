package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/sealift-dev/sealift/cache"
)

// DefaultGCInterval is how often the leader collects cache content no
// revision reaches any more: often enough that a busy cluster's cache stays
// small, rarely enough that the walk costs nothing noticeable.
const DefaultGCInterval = time.Hour

// errCacheClosed is returned to reconciles that start while the manager stops.
var errCacheClosed = errors.New("controller: the cache is closed (the manager is stopping)")

// sharedCache is the one cache.Cache of a controller. It is opened by a
// leader-only runnable, so a standby replica never takes the directory's
// lock, and closed only once no reconcile uses it.
type sharedCache struct {
	dir        string
	opts       cache.Options
	gcInterval time.Duration
	log        logr.Logger
	// collected, when set, is told how many blobs each GC removed.
	collected func(int)

	ready chan struct{} // closed once c is open
	mu    sync.RWMutex  // held shared while a reconcile uses c
	c     *cache.Cache
}

func newSharedCache(dir string, opts cache.Options, gcInterval time.Duration, log logr.Logger) *sharedCache {
	if gcInterval == 0 {
		gcInterval = DefaultGCInterval
	}
	return &sharedCache{dir: dir, opts: opts, gcInterval: gcInterval, log: log, ready: make(chan struct{})}
}

// NeedLeaderElection keeps the cache closed on standby replicas.
func (sc *sharedCache) NeedLeaderElection() bool { return true }

// Start opens the cache, collects garbage every gcInterval, and closes the
// cache when ctx ends and the last reconcile using it returned.
func (sc *sharedCache) Start(ctx context.Context) error {
	c, err := cache.Open(ctx, sc.dir, sc.opts)
	if err != nil {
		return err
	}
	sc.mu.Lock()
	sc.c = c
	sc.mu.Unlock()
	close(sc.ready)
	sc.log.Info("cache open", "dir", c.Dir())

	tick := time.NewTicker(sc.gcInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if report, err := c.GC(ctx); err != nil {
				sc.log.Error(err, "cache gc")
			} else {
				sc.log.V(1).Info("cache gc", "report", report)
				if sc.collected != nil {
					sc.collected(report.RemovedBlobs)
				}
			}
		case <-ctx.Done():
			sc.mu.Lock()
			defer sc.mu.Unlock()
			sc.c = nil
			return c.Close()
		}
	}
}

// acquire waits until the cache is open and returns it with a release
// function; the cache stays open until release is called.
func (sc *sharedCache) acquire(ctx context.Context) (*cache.Cache, func(), error) {
	select {
	case <-sc.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	sc.mu.RLock()
	if sc.c == nil {
		sc.mu.RUnlock()
		return nil, nil, errCacheClosed
	}
	return sc.c, sc.mu.RUnlock, nil
}
