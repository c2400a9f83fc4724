package mirror

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
)

// Release shape for BenchmarkMirrorRelease: 20 artifacts whose locks pin,
// between them, 10 images (5 single-platform, 5 two-platform indexes),
// everything signed.
const (
	benchArtifacts  = 20
	benchImages     = 10
	benchImageBytes = 2 << 20 // one layer per platform
)

type benchRelease struct {
	reg    *registrytest.Registry
	list   *List
	copies []string // what `crane cp` copies one by one: artifacts, images, signatures
}

func newBenchRelease(b *testing.B) *benchRelease {
	b.Helper()
	ctx := context.Background()
	r := &benchRelease{reg: registrytest.Start(b), list: &List{APIVersion: ListAPIVersion, Kind: ListKind}}
	key := newKey(b)
	sign := func(repo string, desc ocispec.Descriptor, k crypto.Signer) {
		ref, target := r.reg.Repository(b, repo, "x")
		if err := cosignfmt.SignLegacy(ctx, target, desc, ref.Repo(), k); err != nil {
			b.Fatal(err)
		}
		r.copies = append(r.copies, r.reg.Repo(repo)+":"+cosignfmt.LegacySignatureTag(desc.Digest))
	}
	var images []string
	for i := range benchImages {
		repo := fmt.Sprintf("library/img%d", i)
		var desc ocispec.Descriptor
		if i%2 == 0 {
			desc = imagetest.Image(b, r.reg.Repo(repo+":1"), benchImageBytes)
		} else {
			desc, _ = imagetest.Index(b, r.reg.Repo(repo+":1"), benchImageBytes)
		}
		sign(repo, desc, key)
		images = append(images, r.reg.Repo(repo+":1"))
		r.copies = append(r.copies, r.reg.Repo(repo)+"@"+desc.Digest.String())
	}
	for i := range benchArtifacts {
		repo := fmt.Sprintf("team/app%d", i)
		pinned := []string{images[i%benchImages], images[(i+3)%benchImages]}
		desc := pushLocked(b, r.reg, repo, "1.0.0", key, pinned...)
		r.list.Artifacts = append(r.list.Artifacts, ListEntry{Repository: r.reg.Repo(repo), Tag: "1.0.0", Images: true})
		r.copies = append(r.copies, r.reg.Repo(repo)+":1.0.0", r.reg.Repo(repo)+":"+cosignfmt.LegacySignatureTag(desc.Digest))
	}
	return r
}

// BenchmarkMirrorRelease carries a release of 20 artifacts and 10 images
// (about 30 MB of layers) to a tar file and on into an empty registry,
// straight into a second empty registry, and, side by side in each round,
// makes the same registry-to-registry copies into a third one `crane cp`
// at a time (the artifacts and images by tag or digest, and each signature
// tag). It reports seconds and megabytes per step and the direct registry
// copy's time as a ratio of crane's (below 1 is faster). Run it with
// `make bench-mirror`.
func BenchmarkMirrorRelease(b *testing.B) {
	ctx := context.Background()
	r := newBenchRelease(b)
	var tarTime, intoTime, directTime, craneTime time.Duration
	var tarBytes int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		tarFile := filepath.Join(b.TempDir(), "release.tar")
		site, direct, peer := registrytest.Start(b), registrytest.Start(b), registrytest.Start(b)
		b.StartTimer()

		start := time.Now()
		tr, err := MirrorList(ctx, r.list, Location{Kind: KindTar, Path: tarFile}, plainHTTP)
		if err != nil {
			b.Fatal(err)
		}
		tarTime += time.Since(start)
		if len(tr.Artifacts) != benchArtifacts || len(tr.Images) != benchImages {
			b.Fatalf("carried %d artifacts and %d images", len(tr.Artifacts), len(tr.Images))
		}
		fi, err := os.Stat(tarFile)
		if err != nil {
			b.Fatal(err)
		}
		tarBytes += fi.Size()

		start = time.Now()
		src := Location{Kind: KindTar, Path: tarFile}
		if _, err := MirrorRelease(ctx, src, Location{Kind: KindRegistry, Ref: pull.Reference{Registry: site.Host}}, plainHTTP); err != nil {
			b.Fatal(err)
		}
		intoTime += time.Since(start)

		start = time.Now()
		if _, err := MirrorList(ctx, r.list, Location{Kind: KindRegistry, Ref: pull.Reference{Registry: direct.Host}}, plainHTTP); err != nil {
			b.Fatal(err)
		}
		directTime += time.Since(start)

		start = time.Now()
		for _, c := range r.copies {
			dst := peer.Host + c[len(r.reg.Host):]
			if err := crane.Copy(c, dst, crane.Insecure, crane.WithContext(ctx)); err != nil {
				b.Fatalf("crane cp %s: %v", c, err)
			}
		}
		craneTime += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(tarTime.Seconds()/n, "tar-s/op")
	b.ReportMetric(float64(tarBytes)/n/(1<<20), "tar-MB/op")
	b.ReportMetric(intoTime.Seconds()/n, "tar-to-registry-s/op")
	b.ReportMetric(directTime.Seconds()/n, "registry-s/op")
	b.ReportMetric(craneTime.Seconds()/n, "crane-cp-s/op")
	b.ReportMetric(directTime.Seconds()/craneTime.Seconds(), "registry-vs-crane")
}
