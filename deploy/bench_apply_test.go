//go:build benchapply

package deploy_test

// The side-by-side apply benchmark: sealift against `kubectl apply
// --server-side` on the same API server, in one run. hack/bench-apply.sh runs
// it; it needs bin/k8s/kubectl (WITH_KUBECTL=1 hack/build-k8s.sh).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/kubetest"
	"github.com/sealift-dev/sealift/render"
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

// benchConfig loads the admin kubeconfig the way `sealift sync --once
// --kubeconfig` does, so sealift runs with the client settings a user gets
// (a kubeconfig sets no QPS) rather than envtest's rest.Config, whose QPS of
// 1000 would hide any client-side rate limit.
func benchConfig(t *testing.T) *rest.Config {
	t.Helper()
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = env.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	// BENCH_QPS and BENCH_BURST set a client-side rate limit, to compare.
	cfg.QPS = float32(envInt("BENCH_QPS", 0))
	cfg.Burst = envInt("BENCH_BURST", 0)
	return cfg
}

// counter counts the requests made through a rest.Config by kind of request,
// and the writes among them (mutating verbs that are not dry runs).
type counter struct {
	requests, writes atomic.Int64

	mu     sync.Mutex
	byKind map[string]int
}

func (c *counter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.requests.Add(1)
			if req.Method != http.MethodGet && !strings.Contains(req.URL.RawQuery, "dryRun=All") {
				c.writes.Add(1)
			}
			c.mu.Lock()
			if c.byKind == nil {
				c.byKind = map[string]int{}
			}
			c.byKind[requestKind(req)]++
			c.mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

// kinds renders the counts by kind of request, most frequent first.
func (c *counter) kinds() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := make([]string, 0, len(c.byKind))
	for k := range c.byKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if c.byKind[kinds[i]] != c.byKind[kinds[j]] {
			return c.byKind[kinds[i]] > c.byKind[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", c.byKind[k], k)
	}
	return strings.Join(parts, ", ")
}

// requestKind names what an API request does: discovery, get, list, apply,
// dry-run apply, delete, or the method and path when it is none of those.
func requestKind(req *http.Request) string {
	p := strings.Trim(req.URL.Path, "/")
	parts := strings.Split(p, "/")
	// The path below the group version: /api/v1/..., /apis/GROUP/VERSION/...
	var below []string
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		below = parts[2:]
	case parts[0] == "apis" && len(parts) >= 3:
		below = parts[3:]
	}
	if len(below) == 0 {
		return "discovery"
	}
	named := len(below) == 2 || (below[0] == "namespaces" && len(below) >= 4)
	switch {
	case req.Method == http.MethodGet && named:
		return "get"
	case req.Method == http.MethodGet:
		return "list"
	case req.Method == http.MethodPatch && strings.Contains(req.URL.RawQuery, "dryRun=All"):
		return "dry-run apply"
	case req.Method == http.MethodPatch:
		return "apply"
	case req.Method == http.MethodDelete:
		return "delete"
	}
	return req.Method + " " + req.URL.Path
}

// serverCPU returns the CPU time the API server and etcd, children of this
// test process, have used so far, or -1 when /proc cannot tell.
func serverCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	self := strconv.Itoa(os.Getpid())
	var ticks int64
	found := false
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 4, 14 and 15.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, f := s[open+1:end], strings.Fields(s[end+1:])
		if len(f) < 13 || f[1] != self || (comm != "kube-apiserver" && comm != "etcd") {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
		found = true
	}
	if !found {
		return -1
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond
}

// cpuSince formats the server CPU used since start (from serverCPU).
func cpuSince(start time.Duration) string {
	now := serverCPU()
	if start < 0 || now < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fs", (now - start).Seconds())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func kubectlApply(t *testing.T, kubectl, dir string) (time.Duration, string) {
	t.Helper()
	cpu := serverCPU()
	start := time.Now()
	cmd := exec.Command(kubectl, "apply", "--server-side", "--field-manager=kubectl-bench", "-f", dir, "--kubeconfig", env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	return time.Since(start), cpuSince(cpu)
}

func sealiftApply(t *testing.T, cfg *rest.Config, dir string) (time.Duration, string, *deploy.ChangeSet) {
	t.Helper()
	ctx := context.Background()
	cpu := serverCPU()
	start := time.Now()
	objs, err := render.Render(ctx, dir, render.Options{})
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
	return time.Since(start), cpuSince(cpu), cs
}

// floorApply creates the objects of dir with the least work there can be:
// bodies encoded beforehand, one bare HTTP/2 client, no rate limit, no reads,
// conc server-side applies in flight, Namespaces first, and the smallest
// answer the API server gives (the object's metadata, as sealift asks for).
// Its time is what the API server itself allows.
func floorApply(t *testing.T, cfg *rest.Config, dir string, conc int) (time.Duration, string) {
	t.Helper()
	ctx := context.Background()
	objs, err := render.Render(ctx, dir, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resources := map[string]string{
		"Namespace":  "/api/v1/namespaces",
		"ConfigMap":  "/api/v1/namespaces/%s/configmaps",
		"Service":    "/api/v1/namespaces/%s/services",
		"Deployment": "/apis/apps/v1/namespaces/%s/deployments",
	}
	type request struct {
		url  string
		body []byte
	}
	var stages [2][]request
	for _, o := range objs {
		path, ok := resources[o.GetKind()]
		if !ok {
			t.Fatalf("floor: no path for kind %s", o.GetKind())
		}
		stage := 1
		if o.GetKind() == "Namespace" {
			stage = 0
		} else {
			path = fmt.Sprintf(path, o.GetNamespace())
		}
		body, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		stages[stage] = append(stages[stage], request{cfg.Host + path + "/" + o.GetName() + "?fieldManager=floor&force=true", body})
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	send := func(r request) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, r.url, bytes.NewReader(r.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/apply-patch+yaml")
		req.Header.Set("Accept", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusCreated {
			err = fmt.Errorf("floor: %s: %s: %s", r.url, resp.Status, b)
		}
		return err
	}
	cpu := serverCPU()
	start := time.Now()
	for _, stage := range stages {
		var g errgroup.Group
		g.SetLimit(conc)
		for _, r := range stage {
			g.Go(func() error { return send(r) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return time.Since(start), cpuSince(cpu)
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

	cfg := benchConfig(t)
	kCreate, kCPU := kubectlApply(t, kubectl, kdir)
	var create counter
	sCreate, sCPU, cs := sealiftApply(t, create.wrap(cfg), sdir)
	if got := cs.Count(deploy.ActionCreated); got != n+10 {
		t.Fatalf("sealift created %d objects, want %d", got, n+10)
	}
	// The floor: the same objects created by bare clients, one request after
	// the other (what kubectl does) and as concurrently as sealift.
	conc := envInt("BENCH_CONCURRENCY", deploy.DefaultConcurrency)
	seqDir, concDir := t.TempDir(), t.TempDir()
	benchObjects(t, seqDir, "bench-floor-seq", n, mix)
	benchObjects(t, concDir, "bench-floor-conc", n, mix)
	fSeq, fSeqCPU := floorApply(t, cfg, seqDir, 1)
	fConc, fConcCPU := floorApply(t, cfg, concDir, conc)

	kReapply, _ := kubectlApply(t, kubectl, kdir)
	var again counter
	sReapply, _, cs := sealiftApply(t, again.wrap(cfg), sdir)
	if got := cs.Count(deploy.ActionUnchanged); got != n+10 {
		t.Errorf("re-apply: %d objects unchanged, want %d", got, n+10)
	}

	total := float64(n + 10)
	fmt.Printf("objects: %d (+10 namespaces), mix %v, %d CPUs\n", n, mix, runtime.NumCPU())
	fmt.Printf("create:   kubectl %8.2fs   sealift %8.2fs   ratio %5.1fx   (sealift %d requests, %.2f/object: %s)\n",
		kCreate.Seconds(), sCreate.Seconds(), kCreate.Seconds()/sCreate.Seconds(), create.requests.Load(), float64(create.requests.Load())/total, create.kinds())
	fmt.Printf("floor:    bare client 1 at a time %6.2fs   %d at a time %6.2fs   best ratio possible %5.1fx   (API server+etcd CPU: kubectl %s, sealift %s, bare %s and %s)\n",
		fSeq.Seconds(), conc, fConc.Seconds(), kCreate.Seconds()/fConc.Seconds(), kCPU, sCPU, fSeqCPU, fConcCPU)
	fmt.Printf("re-apply: kubectl %8.2fs   sealift %8.2fs   ratio %5.1fx   (sealift %d requests, %.2f/object, %d writes: %s)\n",
		kReapply.Seconds(), sReapply.Seconds(), kReapply.Seconds()/sReapply.Seconds(), again.requests.Load(), float64(again.requests.Load())/total, again.writes.Load(), again.kinds())
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
	d, _, _ := sealiftApply(t, benchConfig(t), dir)
	close(done)
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grow := float64(peak.Load()) - float64(base.HeapInuse)
	fmt.Printf("memory:   %d objects in %.2fs: peak heap in use %.1f MiB (+%.1f MiB over the start, %.1f KiB/object), %.1f MiB allocated in total\n",
		n, d.Seconds(), float64(peak.Load())/(1<<20), grow/(1<<20), grow/1024/float64(n), float64(after.TotalAlloc-base.TotalAlloc)/(1<<20))
}
