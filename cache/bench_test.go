package cache_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sealift-dev/sealift/cache"
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
// something makes, with an inventory of 100 objects.
func BenchmarkCommit(b *testing.B) {
	ctx := context.Background()
	c := open(b, b.TempDir(), cache.Options{})
	arts := []artifact{pack(b, c, "one", "layer"), pack(b, c, "two", "layer")}
	inventory := make([]string, 100)
	for i := range inventory {
		inventory[i] = fmt.Sprintf("apps/v1/Deployment/apps/app-%d", i)
	}
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
}
