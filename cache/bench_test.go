package cache_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/cache"
)

const (
	// benchArtifacts is the size of the large cache the open and lookup
	// benchmarks use.
	benchArtifacts = 10_000
	// benchRevisionsPerSync spreads the artifacts over syncs: one
	// last-applied revision and the rest in history.
	benchRevisionsPerSync = cache.DefaultRetention
)

// BenchmarkLastApplied is the lookup a reconcile makes when nothing changed.
func BenchmarkLastApplied(b *testing.B) {
	ctx := context.Background()
	c := open(b, b.TempDir(), cache.Options{})
	a := pack(b, c, "app", "layer")
	for i := range 100 {
		commit(b, c, fmt.Sprintf("ns/app-%d", i), a)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := c.LastApplied(ctx, "ns/app-42"); !ok || err != nil {
			b.Fatalf("last applied: %v, %v", ok, err)
		}
	}
}

// BenchmarkCommit is the one write transaction a reconcile that applied
// something makes, by inventory size. Commits here come one at a time, so
// each pays the batch window (DefaultCommitBatchDelay) unless batching is
// off.
func BenchmarkCommit(b *testing.B) {
	for _, inv := range []int{100, 1000} {
		for _, batch := range []struct {
			name  string
			delay time.Duration
		}{{"batched", 0}, {"unbatched", -1}} {
			b.Run(fmt.Sprintf("inventory=%d/%s", inv, batch.name), func(b *testing.B) {
				ctx := context.Background()
				c := open(b, b.TempDir(), cache.Options{CommitBatchDelay: batch.delay})
				arts := []artifact{pack(b, c, "one", "layer"), pack(b, c, "two", "layer")}
				inventory := benchInventory(inv)
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					a := arts[i%2]
					i++
					err := c.Commit(ctx, cache.Revision{
						Sync:      "ns/app",
						Manifest:  a.manifest,
						Verdict:   cache.Verdict{PolicyHash: "p", Verified: true},
						Inventory: inventory,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCommitParallel is many reconcilers committing at once (each its
// own sync, 100-object inventories): batching shares one fsync among them.
func BenchmarkCommitParallel(b *testing.B) {
	for _, batch := range []struct {
		name  string
		delay time.Duration
	}{{"batched", 0}, {"unbatched", -1}} {
		b.Run(batch.name, func(b *testing.B) {
			ctx := context.Background()
			c := open(b, b.TempDir(), cache.Options{CommitBatchDelay: batch.delay})
			a := pack(b, c, "one", "layer")
			inventory := benchInventory(100)
			var next atomic.Int64
			b.SetParallelism(16) // reconcilers per core
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				sync := fmt.Sprintf("ns/app-%d", next.Add(1))
				for pb.Next() {
					if err := c.Commit(ctx, cache.Revision{Sync: sync, Manifest: a.manifest, Inventory: inventory}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen opens (and closes) a cache of benchArtifacts artifacts, all
// held by syncs; it reports the heap and the process's resident memory with
// the cache open.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	buildLargeCache(b, dir)
	var heap uint64
	var rss float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		c, err := cache.Open(ctx, dir, cache.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
		rss = residentMiB(b)
		b.StartTimer()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(rss, "rss-MiB")
}

// BenchmarkNoChangeLookup is what a reconcile reads from a large cache when
// the resolved digest is the one it applied last: the last-applied
// revision, the verdict for the current policy, and the artifact's presence
// (its manifest read and every blob stat'ed).
func BenchmarkNoChangeLookup(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	buildLargeCache(b, dir)
	c := open(b, dir, cache.Options{})
	sync := fmt.Sprintf("ns/app-%d", benchArtifacts/benchRevisionsPerSync/2)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rev, ok, err := c.LastApplied(ctx, sync)
		if err != nil || !ok {
			b.Fatalf("last applied: %v, %v", ok, err)
		}
		if _, ok, err := c.Verdict(ctx, rev.Manifest.Digest.String(), "p1"); err != nil || !ok {
			b.Fatalf("verdict: %v, %v", ok, err)
		}
		if ok, err := c.Exists(ctx, rev.Manifest); err != nil || !ok {
			b.Fatalf("exists: %v, %v", ok, err)
		}
	}
}

// buildLargeCache fills dir with benchArtifacts artifacts (manifest, a
// shared config, a 1 KiB layer), committed benchRevisionsPerSync to a sync.
// Set-up skips fsync, which the timed part never does.
func buildLargeCache(b *testing.B, dir string) {
	b.Helper()
	ctx := context.Background()
	c, err := cache.Open(ctx, dir, cache.Options{Retention: benchRevisionsPerSync, CommitBatchDelay: -1})
	if err != nil {
		b.Fatal(err)
	}
	cache.SetNoSync(c, true)
	config := []byte(`{}`)
	configDesc := content.NewDescriptorFromBytes(fluxConfigType, config)
	descs := []ocispec.Descriptor{configDesc}
	data := [][]byte{config}
	manifests := make([]ocispec.Descriptor, benchArtifacts)
	for i := range benchArtifacts {
		layer := []byte(strings.Repeat(strconv.Itoa(i), 1024)[:1024])
		layerDesc := content.NewDescriptorFromBytes(fluxContentType, layer)
		m, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			Config: configDesc, Layers: []ocispec.Descriptor{layerDesc},
			Annotations: map[string]string{ocispec.AnnotationTitle: strconv.Itoa(i)},
		})
		if err != nil {
			b.Fatal(err)
		}
		manifests[i] = content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
		descs = append(descs, layerDesc, manifests[i])
		data = append(data, layer, m)
	}
	if err := cache.LoadUnsynced(c, descs, data); err != nil {
		b.Fatal(err)
	}
	for i, m := range manifests {
		commit(b, c, fmt.Sprintf("ns/app-%d", i/benchRevisionsPerSync), artifact{manifest: m})
	}
	cache.SetNoSync(c, false)
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
}

// residentMiB reads the process's resident set size.
func residentMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0 // not Linux: reported as zero
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	return 0
}

func benchInventory(n int) []string {
	inv := make([]string, n)
	for i := range inv {
		inv[i] = fmt.Sprintf("apps/v1/Deployment/apps/app-%d", i)
	}
	return inv
}
