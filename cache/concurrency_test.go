package cache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

func TestCommitBatch(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
	}{
		{"batched (default)", 0},
		{"long batch window", 20 * time.Millisecond},
		{"one transaction each", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := open(t, t.TempDir(), cache.Options{CommitBatchDelay: tt.delay})
			const syncs = 16
			arts := make([]artifact, syncs)
			for i := range arts {
				arts[i] = pack(t, c, fmt.Sprintf("app-%d", i), "layer")
			}
			notCached := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(`{"not":"cached"}`))
			var wg sync.WaitGroup
			errs := make([]error, syncs)
			var failed error
			for i := range syncs {
				wg.Go(func() {
					errs[i] = c.Commit(ctx, cache.Revision{
						Sync:      fmt.Sprintf("ns/app-%d", i),
						Manifest:  arts[i].manifest,
						Verdict:   cache.Verdict{PolicyHash: "p", Verified: true},
						Inventory: []string{fmt.Sprintf("v1/ConfigMap/ns/cm-%d", i)},
					})
				})
			}
			// One commit in the same burst fails; the others must not.
			wg.Go(func() { failed = c.Commit(ctx, cache.Revision{Sync: "ns/broken", Manifest: notCached}) })
			wg.Wait()
			if !errors.Is(failed, errdef.ErrNotFound) {
				t.Fatalf("commit of an uncached manifest: %v", failed)
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
				rev, ok, err := c.LastApplied(ctx, fmt.Sprintf("ns/app-%d", i))
				if err != nil || !ok || rev.Manifest.Digest != arts[i].manifest.Digest || len(rev.Inventory) != 1 {
					t.Fatalf("sync %d: last applied %+v, %v, %v", i, rev, ok, err)
				}
				if v, ok, _ := c.Verdict(ctx, arts[i].manifest.Digest.String(), "p"); !ok || !v.Verified {
					t.Fatalf("sync %d: verdict %+v, %v", i, v, ok)
				}
			}
			if _, ok, _ := c.LastApplied(ctx, "ns/broken"); ok {
				t.Fatal("the failed commit landed")
			}
		})
	}
}

// countingMetrics counts what the cache reports.
type countingMetrics struct {
	hits, misses, read, written, evicted atomic.Int64
}

func (m *countingMetrics) Hit()                 { m.hits.Add(1) }
func (m *countingMetrics) Miss()                { m.misses.Add(1) }
func (m *countingMetrics) BytesRead(n int64)    { m.read.Add(n) }
func (m *countingMetrics) BytesWritten(n int64) { m.written.Add(n) }
func (m *countingMetrics) Evicted()             { m.evicted.Add(1) }

type counts struct{ hits, misses, read, written, evicted int64 }

func (m *countingMetrics) counts() counts {
	return counts{m.hits.Load(), m.misses.Load(), m.read.Load(), m.written.Load(), m.evicted.Load()}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := &countingMetrics{}
	c := open(t, dir, cache.Options{Metrics: m})
	data := []byte("rendered manifests, 32 bytes....")
	other := []byte("another blob")
	steps := []struct {
		name string
		do   func(t *testing.T)
		want counts
	}{
		{"push writes bytes", func(t *testing.T) {
			pushBytes(t, c, fluxContentType, data)
			pushBytes(t, c, fluxContentType, other)
		}, counts{written: int64(len(data) + len(other))}},
		{"pushing again writes nothing", func(t *testing.T) {
			pushBytes(t, c, fluxContentType, data)
		}, counts{}},
		{"exists: a hit and a miss", func(t *testing.T) {
			c.Exists(ctx, content.NewDescriptorFromBytes(fluxContentType, data))
			c.Exists(ctx, content.NewDescriptorFromBytes(fluxContentType, []byte("absent")))
		}, counts{hits: 1, misses: 1}},
		{"fetch reads bytes", func(t *testing.T) {
			if _, err := content.FetchAll(ctx, c, content.NewDescriptorFromBytes(fluxContentType, data)); err != nil {
				t.Fatal(err)
			}
		}, counts{hits: 1, read: int64(len(data))}},
		{"fetch of an absent blob misses", func(t *testing.T) {
			if _, err := c.Fetch(ctx, content.NewDescriptorFromBytes(fluxContentType, []byte("absent"))); !errors.Is(err, errdef.ErrNotFound) {
				t.Fatal(err)
			}
		}, counts{misses: 1}},
		{"a corrupt blob is evicted, its last bytes withheld", func(t *testing.T) {
			desc := content.NewDescriptorFromBytes(fluxContentType, data)
			flipBit(t, blobFile(dir, desc))
			if _, err := content.FetchAll(ctx, c, desc); !errors.Is(err, errdef.ErrCorrupt) {
				t.Fatal(err)
			}
		}, counts{hits: 1, evicted: 1}},
		{"check evicts and counts", func(t *testing.T) {
			truncate(t, blobFile(dir, content.NewDescriptorFromBytes(fluxContentType, other)))
			if r, err := c.Check(ctx); err != nil || len(r.Corrupt) != 1 {
				t.Fatalf("check = %+v, %v", r, err)
			}
		}, counts{evicted: 1}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			before := m.counts()
			step.do(t)
			after := m.counts()
			got := counts{after.hits - before.hits, after.misses - before.misses, after.read - before.read,
				after.written - before.written, after.evicted - before.evicted}
			if got != step.want {
				t.Fatalf("counted %+v; want %+v", got, step.want)
			}
		})
	}
}

// TestGCConcurrentWithCopyAndCommit runs GC in a loop while pulls copy
// artifacts into the cache and commit them: some artifacts are new, some
// were cached long ago and are referenced by nothing when the pull finds
// them (the grace period for new blobs does not cover those). Every commit
// must succeed and every committed revision must read back whole.
func TestGCConcurrentWithCopyAndCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := open(t, dir, cache.Options{})
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cache.SetClock(c, func() time.Time { return time.Unix(0, clock.Load()) })

	const rounds, pulls = 4, 8
	src := memory.New()
	committed := map[string]artifact{} // by sync
	gcRuns := 0
	for round := range rounds {
		arts := make([]artifact, pulls)
		tags := make([]string, pulls)
		for i := range arts {
			name := fmt.Sprintf("app-%d-%d", round, i)
			arts[i] = pack(t, src, name, "layer of "+name, fmt.Sprintf("layer shared in round %d", round))
			tags[i] = name
			if err := src.Tag(ctx, arts[i].manifest, tags[i]); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				// Cached long ago and since unreferenced.
				if _, err := oras.Copy(ctx, src, tags[i], c, "", oras.DefaultCopyOptions); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock.Add(int64(2 * cache.DefaultGCGracePeriod))

		// Blob fetches wait at the gate until one whole GC run has
		// started and finished while at least one copy was held there,
		// half-way through: so every round has a GC that overlapped a copy,
		// however the scheduler orders the goroutines.
		gated := &gatedSource{Store: src, gate: make(chan struct{})}
		done := make(chan struct{})
		gcErr := make(chan error, 1)
		overlapped := 0
		go func() {
			defer close(gcErr)
			for {
				select {
				case <-done:
					return
				default:
				}
				inFlight := gated.waiting.Load() > 0
				if _, err := c.GC(ctx); err != nil {
					gcErr <- err
					close(gated.gate)
					return
				}
				gcRuns++
				if inFlight && overlapped == 0 {
					overlapped++
					close(gated.gate)
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make([]error, pulls)
		for i := range pulls {
			wg.Go(func() {
				desc, err := oras.Copy(ctx, gated, tags[i], c, "registry.test/apps/"+tags[i], oras.DefaultCopyOptions)
				if err != nil {
					errs[i] = fmt.Errorf("copy %s: %w", tags[i], err)
					return
				}
				if err := c.Commit(ctx, cache.Revision{Sync: "ns/" + tags[i], Manifest: desc}); err != nil {
					errs[i] = fmt.Errorf("commit %s: %w", tags[i], err)
				}
			})
		}
		wg.Wait()
		close(done)
		if err := <-gcErr; err != nil {
			t.Fatalf("gc: %v", err)
		}
		if overlapped == 0 {
			t.Fatalf("round %d: no GC run overlapped a copy in flight", round)
		}
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			return
		}
		for i, a := range arts {
			committed["ns/"+tags[i]] = a
		}
	}
	t.Logf("%d GC runs during the pulls, at least one per round while a copy was half-way", gcRuns)

	// Once the pulls are over and the grace period has passed, GC keeps
	// the committed revisions, and they read back whole.
	clock.Add(int64(2 * cache.DefaultGCGracePeriod))
	if _, err := c.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for sync, a := range committed {
		rev, ok, err := c.LastApplied(ctx, sync)
		if err != nil || !ok || rev.Manifest.Digest != a.manifest.Digest {
			t.Fatalf("sync %s: last applied %v, %v, %v", sync, rev.Manifest.Digest, ok, err)
		}
		readWhole(t, c, rev.Manifest)
	}
	if report, err := c.Check(ctx); err != nil || len(report.Corrupt) != 0 {
		t.Fatalf("check = %+v, %v", report, err)
	}
}

// gatedSource holds every blob fetch (not manifests) at gate, counting the
// fetches waiting there, so a test can run GC while copies are half-way.
type gatedSource struct {
	*memory.Store
	gate    chan struct{}
	waiting atomic.Int32
}

func (g *gatedSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		g.waiting.Add(1)
		select {
		case <-g.gate:
		case <-ctx.Done():
		}
		g.waiting.Add(-1)
	}
	return g.Store.Fetch(ctx, desc)
}
