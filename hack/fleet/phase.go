package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var (
	syncGVR          = schema.GroupVersionResource{Group: "sealift.dev", Version: "v1alpha1", Resource: "syncs"}
	ociRepositoryGVR = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "ocirepositories"}
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
)

// keySecret names the Secret holding the fleet's public key in each namespace.
const keySecret = "cosign-pub"

// env is what every phase shares: the cluster, the registry, the key.
type env struct {
	dir      string
	cluster  *cluster
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	registry *registryProc
	key      fleetKey
	opts     options
}

// tool is one way of delivering the fleet: sealift's controller, or Flux's
// two controllers with some concurrency.
type tool interface {
	Name() string
	// Users are the API users the tool's processes run as.
	Users() []string
	// Start runs the tool's controllers and waits until they are healthy.
	Start(ctx context.Context, e *env, dir string) ([]*controllerProc, error)
	// Objects are the objects that deliver artifact i into namespace ns,
	// with the given interval.
	Objects(e *env, ns string, i int, interval time.Duration) []*unstructured.Unstructured
	// Ready is the resource whose readiness means delivered; Sources, when
	// set, is timed too.
	Ready() schema.GroupVersionResource
	Sources() *schema.GroupVersionResource
}

// result is one tool's measurement on one fresh namespace.
type result struct {
	Tool     string
	N        int
	Create   time.Duration // creating the N objects (or 2N for Flux)
	Sources  time.Duration // Flux: creation to every OCIRepository Ready
	Ready    time.Duration // creation to everything Ready
	Stats    procStats     // at all Ready
	API      apiCounts     // from creation to all Ready
	Registry regCounts
	Steady   *steady
	StatsEnd procStats // at the end of the steady state
	// ServerCPU is what kube-apiserver and etcd spent from creation to all
	// Ready (the machine's other load shares the same 2 cores).
	ServerCPU time.Duration
	Namespace string
}

// steady is the cost of unchanged objects over whole intervals.
type steady struct {
	Interval  time.Duration
	Intervals int
	API       apiCounts
	Registry  regCounts
	CPU       time.Duration
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// runPhase delivers the fleet with t into a fresh namespace and measures it.
func runPhase(ctx context.Context, e *env, t tool, ns string) (*result, error) {
	n := e.opts.n
	logf("%s: %d artifacts into namespace %s", t.Name(), n, ns)
	if err := prepareNamespace(ctx, e, ns); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	procs, err := t.Start(ctx, e, dir)
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyW := newReadyWatch(wctx, e.dyn, t.Ready(), ns)
	var sourcesW *readyWatch
	if s := t.Sources(); s != nil {
		sourcesW = newReadyWatch(wctx, e.dyn, *s, ns)
	}

	apiBefore := e.cluster.audit.snapshot(t.Users()...)
	regBefore, err := e.registry.counts()
	if err != nil {
		return nil, err
	}
	res := &result{Tool: t.Name(), N: n, Namespace: ns}

	// The clock starts with the first object created, controllers running.
	servers := childrenNamed("kube-apiserver", "etcd")
	serverCPU0 := cpuOf(servers)
	start := time.Now()
	var objs []*unstructured.Unstructured
	for i := range n {
		objs = append(objs, t.Objects(e, ns, i, e.opts.interval)...)
	}
	if err := createAll(ctx, e.dyn, objs); err != nil {
		return nil, err
	}
	res.Create = time.Since(start)
	timeout := e.opts.readyTimeout
	last, err := readyW.waitAll(ctx, n, timeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	res.Ready = last.Sub(start)
	if sourcesW != nil {
		slast, err := sourcesW.waitAll(ctx, n, time.Minute)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name(), err)
		}
		res.Sources = slast.Sub(start)
	}
	if res.Stats, err = sumStats(procs); err != nil {
		return nil, err
	}
	res.ServerCPU = cpuOf(servers) - serverCPU0
	if r, ok := t.(interface{ atReady(string) }); ok {
		r.atReady(ns)
	}
	e.cluster.audit.settle()
	res.API = e.cluster.audit.snapshot(t.Users()...).sub(apiBefore)
	regAfter, err := e.registry.counts()
	if err != nil {
		return nil, err
	}
	res.Registry = regAfter.sub(regBefore)
	logf("%s: all %d Ready after %s (created in %s), CPU %.1fs, peak RSS %s; kube-apiserver and etcd CPU %.1fs", t.Name(), n, round(res.Ready), round(res.Create), res.Stats.CPU.Seconds(), mib(res.Stats.PeakRSS), res.ServerCPU.Seconds())

	if e.opts.steadyIntervals > 0 {
		if res.Steady, err = measureSteady(ctx, e, t, ns, procs, readyW, sourcesW); err != nil {
			return nil, err
		}
		if res.StatsEnd, err = sumStats(procs); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// measureSteady sets every object's interval to the steady interval, waits
// until each has been reconciled with it and one more interval has passed,
// then counts what the unchanged objects cost over a few intervals.
func measureSteady(ctx context.Context, e *env, t tool, ns string, procs []*controllerProc, readyW, sourcesW *readyWatch) (*steady, error) {
	iv := e.opts.steadyInterval
	n := e.opts.n
	readyW.reset()
	if sourcesW != nil {
		sourcesW.reset()
	}
	var patches []patchTarget
	for i := range n {
		for _, o := range t.Objects(e, ns, i, iv) {
			patches = append(patches, patchTarget{gvr: gvrOf(o), ns: ns, name: o.GetName()})
		}
	}
	body := fmt.Appendf(nil, `{"spec":{"interval":%q}}`, iv.String())
	if err := patchAll(ctx, e.dyn, patches, body); err != nil {
		return nil, err
	}
	if _, err := readyW.waitAll(ctx, n, e.opts.readyTimeout); err != nil {
		return nil, fmt.Errorf("%s: after setting interval %s: %w", t.Name(), iv, err)
	}
	logf("%s: every object reconciled with interval %s; waiting one interval, then counting %d", t.Name(), iv, e.opts.steadyIntervals)
	time.Sleep(iv)
	e.cluster.audit.settle()
	api0 := e.cluster.audit.snapshot(t.Users()...)
	reg0, err := e.registry.counts()
	if err != nil {
		return nil, err
	}
	st0, err := sumStats(procs)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Duration(e.opts.steadyIntervals) * iv)
	st1, err := sumStats(procs)
	if err != nil {
		return nil, err
	}
	api1 := e.cluster.audit.snapshot(t.Users()...)
	reg1, err := e.registry.counts()
	if err != nil {
		return nil, err
	}
	return &steady{Interval: iv, Intervals: e.opts.steadyIntervals, API: api1.sub(api0), Registry: reg1.sub(reg0), CPU: st1.CPU - st0.CPU}, nil
}

// prepareNamespace creates ns and the Secret holding the fleet's public key.
func prepareNamespace(ctx context.Context, e *env, ns string) error {
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: keySecret, Namespace: ns},
		Data:       map[string][]byte{"cosign.pub": e.key.publicPEM},
	}
	if _, err := e.kube.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Secret %s/%s: %w", ns, keySecret, err)
	}
	return nil
}

// createAll creates objs with a bounded number of requests in flight, as a
// fast client would (kubectl create of 2 000 objects takes 20 s here).
func createAll(ctx context.Context, dc dynamic.Interface, objs []*unstructured.Unstructured) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, o := range objs {
		g.Go(func() error {
			gvr := gvrOf(o)
			_, err := dc.Resource(gvr).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

type patchTarget struct {
	gvr      schema.GroupVersionResource
	ns, name string
}

func patchAll(ctx context.Context, dc dynamic.Interface, targets []patchTarget, body []byte) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, t := range targets {
		g.Go(func() error {
			_, err := dc.Resource(t.gvr).Namespace(t.ns).Patch(ctx, t.name, types.MergePatchType, body, metav1.PatchOptions{})
			if err != nil {
				return fmt.Errorf("patch %s %s/%s: %w", t.gvr.Resource, t.ns, t.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func gvrOf(o *unstructured.Unstructured) schema.GroupVersionResource {
	switch o.GetKind() {
	case "OCIRepository":
		return ociRepositoryGVR
	case "Kustomization":
		return kustomizationGVR
	}
	return syncGVR
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

func mib(b int64) string { return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20)) }
