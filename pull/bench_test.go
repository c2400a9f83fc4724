package pull_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

// benchTree writes files manifests of about size bytes in total, spread
// over ten directories, each holding a block of base64 data.
func benchTree(b *testing.B, files, size int) (string, int64) {
	b.Helper()
	root := b.TempDir()
	raw := make([]byte, size/files*3/4)
	var total int64
	for i := range files {
		if _, err := rand.Read(raw); err != nil {
			b.Fatal(err)
		}
		body := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\ndata:\n  blob: %s\n", i, base64.StdEncoding.EncodeToString(raw))
		p := filepath.Join(root, fmt.Sprintf("part-%02d", i%10), fmt.Sprintf("cm-%04d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(body))
	}
	return root, total
}

// BenchmarkPull measures resolve, fetch and extract of a 5 MB, 1000-file
// artifact from the in-process registry; MB/s is of extracted content.
func BenchmarkPull(b *testing.B) {
	src, total := benchTree(b, 1000, 5<<20)
	benchPull(b, src, total)
}

// BenchmarkPullOneLargeFile pulls one 32 MB manifest file: with file
// creation out of the way, the cost per MB is what the transfer itself
// costs (gunzip, sha256 on the compressed and the copy to disk).
func BenchmarkPullOneLargeFile(b *testing.B) {
	src, total := benchTree(b, 1, 32<<20)
	benchPull(b, src, total)
}

func benchPull(b *testing.B, src string, total int64) {
	ctx := context.Background()
	reg := registrytest.Start(b)
	ref, repo := reg.Repository(b, "bench/app", "v1")
	if _, err := push.Push(ctx, src, repo, ref.Tag, push.Options{}); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		desc, err := pull.Resolve(ctx, repo, ref)
		if err != nil {
			b.Fatal(err)
		}
		store := memory.New()
		if err := pull.Fetch(ctx, repo, desc, store, pull.FetchOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := render.Extract(ctx, store, desc, filepath.Join(out, fmt.Sprint(i)), render.ExtractOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPush measures packing and pushing the same artifact to a fresh
// repository each time, so every blob is uploaded.
func BenchmarkPush(b *testing.B) {
	ctx := context.Background()
	reg := registrytest.Start(b)
	src, total := benchTree(b, 1000, 5<<20)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		repo, err := pull.NewRepository(pull.Reference{Registry: reg.Host, Repository: fmt.Sprintf("bench/app-%d", i)}, pull.RemoteOptions{PlainHTTP: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := push.Push(ctx, src, repo, "v1", push.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
