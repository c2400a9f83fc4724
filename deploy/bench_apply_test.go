//go:build benchapply

package deploy_test

// The side-by-side apply benchmark: sealift against `kubectl apply
// --server-side` on the same API server, in one run. hack/bench-apply.sh runs
// it; it needs bin/k8s/kubectl (WITH_KUBECTL=1 hack/build-k8s.sh).

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/kubetest"
)

// benchObjects writes n objects of kinds, in turn, spread over 10
// namespaces named prefix-0..9 into dir, one file per namespace with its
// Namespace first. Services are headless: the test server has only 256
// service IPs.
func benchObjects(t *testing.T, dir, prefix string, n int, kinds []string) {
	t.Helper()
	const namespaces = 10
	files := make([]bytes.Buffer, namespaces)
	for i := range namespaces {
		fmt.Fprintf(&files[i], "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s-%d\n", prefix, i)
	}
	for i := range n {
		ns := fmt.Sprintf("%s-%d", prefix, i%namespaces)
		b := &files[i%namespaces]
		name := fmt.Sprintf("obj-%05d", i)
		switch kinds[i%len(kinds)] {
		case "ConfigMap":
			fmt.Fprintf(b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  index: %q\n  payload: %q\n", name, ns, strconv.Itoa(i), strings.Repeat("x", 200))
		case "Service":
			fmt.Fprintf(b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  clusterIP: None\n  selector: {app: %s}\n  ports:\n  - port: 80\n    targetPort: 8080\n", name, ns, name)
		case "Deployment":
			fmt.Fprintf(b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: app\n        image: registry.example/app:1.0\n", name, ns, name, name)
		}
	}
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ns-%d.yaml", i)), files[i].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// counter counts the requests made through a rest.Config, and the writes
// among them (mutating verbs that are not dry runs).
type counter struct{ requests, writes atomic.Int64 }

func (c *counter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.requests.Add(1)
			if req.Method != http.MethodGet && !strings.Contains(req.URL.RawQuery, "dryRun=All") {
				c.writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func kubectlApply(t *testing.T, kubectl, dir string) time.Duration {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(kubectl, "apply", "--server-side", "--field-manager=kubectl-bench", "-f", dir, "--kubeconfig", env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	return time.Since(start)
}

func sealiftApply(t *testing.T, cfg *rest.Config, dir string) (time.Duration, *deploy.ChangeSet) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	objs, err := deploy.Render(ctx, dir, deploy.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := deploy.NewManager(cfg, deploy.ManagerOptions{
		Owner:       deploy.Owner{Name: "bench", Namespace: "default"},
		Concurrency: envInt("BENCH_CONCURRENCY", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start), cs
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestBenchApplySideBySide(t *testing.T) {
	dir, err := kubetest.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("%v: build it with WITH_KUBECTL=1 hack/build-k8s.sh", err)
	}
	n := envInt("BENCH_OBJECTS", 1000)
	mix := []string{"ConfigMap", "Service", "Deployment"}
	kdir, sdir := t.TempDir(), t.TempDir()
	benchObjects(t, kdir, "bench-kubectl", n, mix)
	benchObjects(t, sdir, "bench-sealift", n, mix)

	kCreate := kubectlApply(t, kubectl, kdir)
	var create counter
	sCreate, cs := sealiftApply(t, create.wrap(env.Config), sdir)
	if got := cs.Count(deploy.ActionCreated); got != n+10 {
		t.Fatalf("sealift created %d objects, want %d", got, n+10)
	}

	kReapply := kubectlApply(t, kubectl, kdir)
	var again counter
	sReapply, cs := sealiftApply(t, again.wrap(env.Config), sdir)
	if got := cs.Count(deploy.ActionUnchanged); got != n+10 {
		t.Errorf("re-apply: %d objects unchanged, want %d", got, n+10)
	}

	total := float64(n + 10)
	fmt.Printf("objects: %d (+10 namespaces), mix %v\n", n, mix)
	fmt.Printf("create:   kubectl %8.2fs   sealift %8.2fs   ratio %5.1fx   (sealift %d requests, %.2f/object)\n",
		kCreate.Seconds(), sCreate.Seconds(), kCreate.Seconds()/sCreate.Seconds(), create.requests.Load(), float64(create.requests.Load())/total)
	fmt.Printf("re-apply: kubectl %8.2fs   sealift %8.2fs   ratio %5.1fx   (sealift %d requests, %.2f/object, %d writes)\n",
		kReapply.Seconds(), sReapply.Seconds(), kReapply.Seconds()/sReapply.Seconds(), again.requests.Load(), float64(again.requests.Load())/total, again.writes.Load())
	if w := again.writes.Load(); w > 1 {
		t.Errorf("re-apply of unchanged objects made %d writes, want at most 1", w)
	}
}

func TestBenchApplyMemory(t *testing.T) {
	n := envInt("BENCH_MEMORY_OBJECTS", 10000)
	dir := t.TempDir()
	benchObjects(t, dir, "bench-memory", n, []string{"ConfigMap"})

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	d, _ := sealiftApply(t, env.Config, dir)
	close(done)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grow := float64(peak.Load()) - float64(base.HeapInuse)
	fmt.Printf("memory:   %d objects in %.2fs: peak heap in use %.1f MiB (+%.1f MiB over the start, %.1f KiB/object), %.1f MiB allocated in total\n",
		n, d.Seconds(), float64(peak.Load())/(1<<20), grow/(1<<20), grow/1024/float64(n), float64(after.TotalAlloc-base.TotalAlloc)/(1<<20))
}
