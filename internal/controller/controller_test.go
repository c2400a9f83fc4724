package controller

import (
	"bufio"
	"context"
	"fmt"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/kubetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/internal/signtest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }

var (
	setupOnce sync.Once
	setupErr  error
	k8s       client.Client
)

// setup installs the Sync CRD from config/crd and returns a client.
func setup(t *testing.T) client.Client {
	t.Helper()
	setupOnce.Do(func() {
		if err := env.InstallCRDs("../../config/crd"); err != nil {
			setupErr = err
			return
		}
		scheme, err := NewScheme()
		if err != nil {
			setupErr = err
			return
		}
		k8s, setupErr = client.New(env.Config, client.Options{Scheme: scheme})
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return k8s
}

// running is a controller started for one test.
type running struct {
	metricsAddr, healthAddr string
	cancel                  context.CancelFunc
	done                    chan error
	once                    sync.Once
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func testLogger() logr.Logger {
	if os.Getenv("SEALIFT_TEST_LOG") != "" {
		return ctrlzap.New(ctrlzap.UseDevMode(true), ctrlzap.WriteTo(os.Stderr))
	}
	return logr.Discard()
}

// startController runs a controller watching namespace ns until the test ends.
func startController(t *testing.T, ns string, mutate ...func(*Options)) *running {
	t.Helper()
	log := testLogger()
	o := Options{
		RestConfig:         env.Config,
		Concurrent:         2,
		MetricsAddr:        freeAddr(t),
		HealthAddr:         freeAddr(t),
		WatchNamespace:     ns,
		CacheDir:           t.TempDir(),
		SkipNameValidation: true,
		Logger:             &log,
	}
	for _, m := range mutate {
		m(&o)
	}
	mgr, err := NewManager(o, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{metricsAddr: o.MetricsAddr, healthAddr: o.HealthAddr, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
		}
	})
}

// keyPair and newKeyPair are the shared test key pairs.
type keyPair = signtest.KeyPair

var newKeyPair = signtest.NewKeyPair

// app writes a Namespace appNS and a ConfigMap app-config holding message;
// extra adds one ConfigMap per name.
func app(t *testing.T, appNS, message string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", appNS),
		"configmap.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: %s\ndata:\n  message: %q\n", appNS, message),
	}
	for _, name := range extra {
		files[name+".yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n", name, appNS)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// publish pushes dir to repo:tag, created at created, and signs the digest with each signer.
func publish(t *testing.T, reg *registrytest.Registry, repoName, tag, dir string, created time.Time, signers ...keyPair) ocispec.Descriptor {
	t.Helper()
	return signtest.Publish(t, reg, repoName, tag, dir, created, signers...)
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := setup(t).Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func newSync(ns, name, url, tag string, every time.Duration, keys ...keyPair) *sealiftv1.Sync {
	s := &sealiftv1.Sync{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	s.Spec.Source.URL = url
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: tag}
	s.Spec.Source.Insecure = true
	s.Spec.Prune = true
	s.Spec.Interval = &metav1.Duration{Duration: every}
	for _, k := range keys {
		s.Spec.Verify.Keys = append(s.Spec.Verify.Keys, sealiftv1.Key{PEM: string(k.PublicPEM)})
	}
	return s
}

func getSync(t *testing.T, ns, name string) *sealiftv1.Sync {
	t.Helper()
	var s sealiftv1.Sync
	if err := setup(t).Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatalf("get Sync %s/%s: %v", ns, name, err)
	}
	return &s
}

// eventually polls cond until it holds, failing the test after timeout.
var eventually = kubetest.Eventually

// waitReady waits until the Sync has applied digest.
func waitReady(t *testing.T, ns, name, digest string) *sealiftv1.Sync {
	t.Helper()
	var s *sealiftv1.Sync
	eventually(t, 60*time.Second, "Sync "+name+" Ready with "+digest, func() (bool, string) {
		s = getSync(t, ns, name)
		ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionTrue && s.Status.LastAppliedDigest == digest,
			fmt.Sprintf("%+v", s.Status)
	})
	return s
}

func configMessage(t *testing.T, ns string) (string, bool) {
	t.Helper()
	var cm corev1.ConfigMap
	err := setup(t).Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "app-config"}, &cm)
	if apierrors.IsNotFound(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["message"], true
}

// events returns the reasons of the events recorded for Sync name.
func events(t *testing.T, ns, name string) []string {
	t.Helper()
	var reasons []string
	for _, e := range eventObjects(t, ns, name) {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

// eventObjects returns the events recorded for Sync name.
func eventObjects(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := setup(t).List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == sealiftv1.Kind {
			out = append(out, e)
		}
	}
	return out
}

func count(items []string, want string) int {
	n := 0
	for _, s := range items {
		if s == want {
			n++
		}
	}
	return n
}

// settle waits until the Sync's reconcile count has not moved for three
// seconds (at most 30 s).
func settle(t *testing.T, ns, name string) {
	t.Helper()
	last, since := reconciles(t, ns, name, ""), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if got := reconciles(t, ns, name, ""); got != last {
			last, since = got, time.Now()
		} else if time.Since(since) >= 3*time.Second {
			return
		}
	}
	t.Fatalf("Sync %s/%s kept being reconciled for 30s after it was Ready", ns, name)
}

// reconciles sums sealift_reconcile_total for the Sync, for every result
// when result is empty.
func reconciles(t *testing.T, ns, name, result string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "sealift_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && labels["name"] == name && (result == "" || labels["result"] == result) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// scrape fetches the metrics endpoint over HTTP and returns the value of
// the sample whose line starts with prefix.
func scrape(t *testing.T, addr, prefix string) (string, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) {
			fields := strings.Fields(line)
			return fields[len(fields)-1], true
		}
	}
	return "", false
}

func patchSync(t *testing.T, s *sealiftv1.Sync, mutate func(*sealiftv1.Sync)) {
	t.Helper()
	before := s.DeepCopy()
	mutate(s)
	if err := setup(t).Patch(context.Background(), s, client.MergeFrom(before)); err != nil {
		t.Fatalf("patch Sync: %v", err)
	}
}

// TestControllerAppliesAndFollowsTheTag: a signed artifact becomes Ready
// with its digest, signer and revision; a new signed push of the same tag is
// applied at the next interval without touching the Sync; events are
// recorded once per change; metrics are served over HTTP.
func TestControllerAppliesAndFollowsTheTag(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-follow", "ctl-follow-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	created := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	v1 := publish(t, reg, "apps/follow", "stable", app(t, appNS, "one"), created, key)
	run := startController(t, ns)

	s := newSync(ns, "follow", "oci://"+reg.Repo("apps/follow"), "stable", 2*time.Second, key)
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s = waitReady(t, ns, "follow", v1.Digest.String())
	if len(s.Status.VerifiedBy) != 1 {
		t.Errorf("verifiedBy %v, want the one key", s.Status.VerifiedBy)
	}
	if want := "stable@" + v1.Digest.String(); s.Status.LastAppliedRevision != want {
		t.Errorf("lastAppliedRevision %q, want %q", s.Status.LastAppliedRevision, want)
	}
	if s.Status.ServedBy == "" || !strings.Contains(s.Status.ServedBy, "apps/follow") {
		t.Errorf("servedBy %q", s.Status.ServedBy)
	}
	if !strings.Contains(strings.Join(s.Finalizers, ","), Finalizer) {
		t.Errorf("finalizers %v lack %s", s.Finalizers, Finalizer)
	}
	if apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReconciling) != nil {
		t.Errorf("Reconciling condition left after the reconcile: %+v", s.Status.Conditions)
	}
	if msg, ok := configMessage(t, appNS); !ok || msg != "one" {
		t.Fatalf("app-config message %q (exists %v), want one", msg, ok)
	}
	generation := s.Generation

	// Several unchanged reconciles later, still one Applied event.
	eventually(t, 20*time.Second, "three reconciles", func() (bool, string) {
		n := reconciles(t, ns, "follow", resultSuccess)
		return n >= 3, fmt.Sprint(n)
	})
	if got := count(events(t, ns, "follow"), sealiftv1.ReasonApplied); got != 1 {
		t.Errorf("%d Applied events after unchanged reconciles, want 1", got)
	}
	if h := getSync(t, ns, "follow").Status.History; len(h) != 1 {
		t.Errorf("history after unchanged reconciles %+v, want one entry", h)
	}

	v2 := publish(t, reg, "apps/follow", "stable", app(t, appNS, "two"), created.Add(30*time.Second), key)
	s = waitReady(t, ns, "follow", v2.Digest.String())
	if s.Generation != generation {
		t.Errorf("generation %d, want %d: the Sync was changed", s.Generation, generation)
	}
	if msg, _ := configMessage(t, appNS); msg != "two" {
		t.Errorf("app-config message %q, want two", msg)
	}
	if len(s.Status.History) != 2 || s.Status.History[0].Digest != v2.Digest.String() {
		t.Errorf("history %+v, want %s then %s", s.Status.History, v2.Digest, v1.Digest)
	}
	eventually(t, 10*time.Second, "a second Applied event", func() (bool, string) {
		got := events(t, ns, "follow")
		return count(got, sealiftv1.ReasonApplied) == 2, fmt.Sprint(got)
	})

	// Metrics, scraped as Prometheus does.
	labels := `{name="follow",namespace="ctl-follow"}`
	if v, ok := scrape(t, run.metricsAddr, "sealift_sync_ready"+labels); !ok || v != "1" {
		t.Errorf("sealift_sync_ready = %q (found %v), want 1", v, ok)
	}
	if v, ok := scrape(t, run.metricsAddr, "sealift_delivery_latency_seconds_count"+labels); !ok || v != "2" {
		t.Errorf("sealift_delivery_latency_seconds_count = %q (found %v), want 2 (one per new digest)", v, ok)
	}
	if v, ok := scrape(t, run.metricsAddr, `sealift_apply_objects_total{action="created",name="follow",namespace="ctl-follow"}`); !ok || v != "2" {
		t.Errorf("created objects = %q (found %v), want 2", v, ok)
	}
	if _, ok := scrape(t, run.metricsAddr, "sealift_reconcile_duration_seconds_bucket"); !ok {
		t.Error("no sealift_reconcile_duration_seconds series")
	}
	// Two digests checked against the key, the unchanged reconciles
	// between them answered from the cached verdict.
	if v, ok := scrape(t, run.metricsAddr, `sealift_verify_total{name="follow",namespace="ctl-follow",outcome="verified"}`); !ok || v != "2" {
		t.Errorf("verified = %q (found %v), want 2", v, ok)
	}
	if v, ok := scrape(t, run.metricsAddr, `sealift_verify_total{name="follow",namespace="ctl-follow",outcome="cached"}`); !ok || v == "0" {
		t.Errorf("cached verdicts = %q (found %v), want some", v, ok)
	}
	// The registry's traffic, labelled by its host: tag HEADs and 200s.
	if v, ok := scrape(t, run.metricsAddr, fmt.Sprintf(`sealift_registry_requests_total{code="200",method="HEAD",registry=%q}`, reg.Host)); !ok || v == "0" {
		t.Errorf("registry HEAD 200s = %q (found %v), want some", v, ok)
	}
	if v, ok := scrape(t, run.metricsAddr, fmt.Sprintf(`sealift_registry_response_bytes_total{registry=%q}`, reg.Host)); !ok || v == "0" {
		t.Errorf("registry bytes = %q (found %v), want some", v, ok)
	}
	for _, series := range []string{`sealift_cache_lookups_total{result="hit"}`, `sealift_cache_lookups_total{result="miss"}`, `sealift_cache_bytes_total{direction="written"}`} {
		if v, ok := scrape(t, run.metricsAddr, series); !ok || v == "0" {
			t.Errorf("%s = %q (found %v), want some", series, v, ok)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + run.healthAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// TestControllerStallsOnUnsignedPush: an unsigned push of the applied tag
// stalls the Sync with the reason, leaves the applied objects alone, records
// one warning, and is not retried with back-off. The requested-at
// annotation forces the reconcile and is recorded as handled.
func TestControllerStallsOnUnsignedPush(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-stall", "ctl-stall-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	v1 := publish(t, reg, "apps/stall", "stable", app(t, appNS, "signed"), time.Time{}, key)
	startController(t, ns)

	// An hour's interval: only the annotation brings the Sync back.
	s := newSync(ns, "stall", "oci://"+reg.Repo("apps/stall"), "stable", time.Hour, key)
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s = waitReady(t, ns, "stall", v1.Digest.String())
	// The drift watches started for the applied kinds reconcile the Sync
	// once more when their first list arrives; let that happen before the
	// stall, so the count below sees only what the stall causes.
	settle(t, ns, "stall")

	bad := publish(t, reg, "apps/stall", "stable", app(t, appNS, "unsigned"), time.Time{})
	patchSync(t, s, func(s *sealiftv1.Sync) {
		s.Annotations = map[string]string{RequestedAtAnnotation: "first"}
	})
	eventually(t, 30*time.Second, "Stalled", func() (bool, string) {
		s = getSync(t, ns, "stall")
		stalled := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled)
		return stalled != nil && stalled.Status == metav1.ConditionTrue && s.Status.LastHandledReconcileAt == "first", fmt.Sprintf("%+v", s.Status)
	})
	ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != sealiftv1.ReasonVerificationFailed ||
		!strings.Contains(ready.Message, bad.Digest.String()) {
		t.Errorf("Ready %+v, want False/VerificationFailed naming %s", ready, bad.Digest)
	}
	if s.Status.LastAppliedDigest != v1.Digest.String() || s.Status.LastAttemptedDigest != bad.Digest.String() {
		t.Errorf("lastApplied %s lastAttempted %s, want %s and %s", s.Status.LastAppliedDigest, s.Status.LastAttemptedDigest, v1.Digest, bad.Digest)
	}
	if msg, _ := configMessage(t, appNS); msg != "signed" {
		t.Errorf("app-config message %q: the unsigned revision reached the cluster", msg)
	}

	// No retry storm: with back-off the Sync would come back after 1s, 2s, 4s.
	stalls := reconciles(t, ns, "stall", resultStalled)
	all := reconciles(t, ns, "stall", "")
	time.Sleep(5 * time.Second)
	if got := reconciles(t, ns, "stall", ""); got != all {
		t.Errorf("%v reconciles of a stalled Sync in 5s without any change, want none", got-all)
	}
	if stalls != 1 {
		t.Errorf("%v stalled reconciles, want 1", stalls)
	}
	if got := count(events(t, ns, "stall"), sealiftv1.ReasonVerificationFailed); got != 1 {
		t.Errorf("%d VerificationFailed events, want 1", got)
	}

	// The same annotation value again is not a new request; a new one is.
	patchSync(t, s, func(s *sealiftv1.Sync) { s.Annotations[RequestedAtAnnotation] = "second" })
	eventually(t, 30*time.Second, "second request handled", func() (bool, string) {
		s = getSync(t, ns, "stall")
		return s.Status.LastHandledReconcileAt == "second", s.Status.LastHandledReconcileAt
	})
	if got := count(events(t, ns, "stall"), sealiftv1.ReasonVerificationFailed); got != 1 {
		t.Errorf("%d VerificationFailed events after an unchanged failure, want still 1", got)
	}
}

// TestControllerStalledSyncPicksUpAFixedTag: a stalled Sync is looked at
// again once per interval, so signing the tag's artifact (or pushing a
// signed one) un-stalls it without anyone touching the Sync.
func TestControllerStalledSyncPicksUpAFixedTag(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-unstall", "ctl-unstall-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	publish(t, reg, "apps/unstall", "stable", app(t, appNS, "unsigned"), time.Time{})
	startController(t, ns)
	s := newSync(ns, "unstall", "oci://"+reg.Repo("apps/unstall"), "stable", 2*time.Second, key)
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Stalled", func() (bool, string) {
		s = getSync(t, ns, "unstall")
		return apimeta.IsStatusConditionTrue(s.Status.Conditions, sealiftv1.ConditionStalled), fmt.Sprintf("%+v", s.Status)
	})
	if _, ok := configMessage(t, appNS); ok {
		t.Fatal("the unsigned revision reached the cluster")
	}
	good := publish(t, reg, "apps/unstall", "stable", app(t, appNS, "signed"), time.Time{}, key)
	s = waitReady(t, ns, "unstall", good.Digest.String())
	if apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled) != nil {
		t.Errorf("Stalled left on a Ready Sync: %+v", s.Status.Conditions)
	}
}

// TestControllerDeleteSync: deleting a Sync prunes what it applied, unless
// prune is false; either way its inventory record and the Sync go.
func TestControllerDeleteSync(t *testing.T) {
	for _, prune := range []bool{true, false} {
		t.Run(fmt.Sprintf("prune=%v", prune), func(t *testing.T) {
			ctx := context.Background()
			c := setup(t)
			ns := fmt.Sprintf("ctl-delete-%v", prune)
			appNS := ns + "-app"
			createNamespace(t, ns)
			reg := registrytest.Start(t)
			key := newKeyPair(t)
			desc := publish(t, reg, "apps/delete", "1.0.0", app(t, appNS, "bye", "extra"), time.Time{}, key)
			startController(t, ns)
			s := newSync(ns, "delete", "oci://"+reg.Repo("apps/delete"), "1.0.0", time.Hour, key)
			s.Spec.Prune = prune
			if err := c.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			waitReady(t, ns, "delete", desc.Digest.String())
			var inv corev1.ConfigMap
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: deploy.InventoryName("delete")}, &inv); err != nil {
				t.Fatalf("inventory record: %v", err)
			}

			if err := c.Delete(ctx, getSync(t, ns, "delete")); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the Sync gone", func() (bool, string) {
				err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "delete"}, &sealiftv1.Sync{})
				return apierrors.IsNotFound(err), fmt.Sprint(err)
			})
			err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: deploy.InventoryName("delete")}, &corev1.ConfigMap{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("inventory record after delete: err = %v, want NotFound", err)
			}
			for _, name := range []string{"app-config", "extra"} {
				var cm corev1.ConfigMap
				err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: name}, &cm)
				switch {
				case prune && err == nil && cm.DeletionTimestamp.IsZero():
					t.Errorf("ConfigMap %s kept after its Sync was deleted with prune", name)
				case !prune && err != nil:
					t.Errorf("ConfigMap %s with prune: false: %v, want kept", name, err)
				}
			}
			if prune {
				if got := count(events(t, ns, "delete"), ReasonPruned); got != 1 {
					t.Errorf("%d Pruned events, want 1", got)
				}
			}
		})
	}
}

// TestControllerSuspend: a suspended Sync applies nothing and says so;
// resuming applies.
func TestControllerSuspend(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-suspend", "ctl-suspend-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/suspend", "1.0.0", app(t, appNS, "later"), time.Time{}, key)
	startController(t, ns)
	s := newSync(ns, "suspend", "oci://"+reg.Repo("apps/suspend"), "1.0.0", time.Hour, key)
	s.Spec.Suspend = true
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Suspended", func() (bool, string) {
		s = getSync(t, ns, "suspend")
		return apimeta.IsStatusConditionTrue(s.Status.Conditions, ConditionSuspended), fmt.Sprintf("%+v", s.Status)
	})
	time.Sleep(time.Second)
	if _, ok := configMessage(t, appNS); ok {
		t.Fatal("a suspended Sync applied its artifact")
	}
	if s.Status.LastAppliedDigest != "" {
		t.Errorf("lastAppliedDigest %q on a suspended Sync", s.Status.LastAppliedDigest)
	}
	patchSync(t, s, func(s *sealiftv1.Sync) { s.Spec.Suspend = false })
	s = waitReady(t, ns, "suspend", desc.Digest.String())
	if apimeta.FindStatusCondition(s.Status.Conditions, ConditionSuspended) != nil {
		t.Errorf("Suspended condition left after resume: %+v", s.Status.Conditions)
	}
}

// TestControllerFollowsSemver: a Sync on a semver range applies the highest
// signed match, and a newer signed match pushed later without touching the
// Sync.
func TestControllerFollowsSemver(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-semver", "ctl-semver-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	publish(t, reg, "apps/semver", "1.0.0", app(t, appNS, "1.0.0"), time.Time{}, key)
	v11 := publish(t, reg, "apps/semver", "1.1.0", app(t, appNS, "1.1.0"), time.Time{}, key)
	publish(t, reg, "apps/semver", "2.0.0", app(t, appNS, "2.0.0"), time.Time{}, key) // outside the range
	startController(t, ns)
	s := newSync(ns, "semver", "oci://"+reg.Repo("apps/semver"), "", 2*time.Second, key)
	s.Spec.Source.Ref = &sealiftv1.Ref{Semver: ">=1.0.0 <2.0.0"}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	s = waitReady(t, ns, "semver", v11.Digest.String())
	if want := "1.1.0@" + v11.Digest.String(); s.Status.LastAppliedRevision != want {
		t.Errorf("lastAppliedRevision %q, want %q", s.Status.LastAppliedRevision, want)
	}
	generation := s.Generation
	v12 := publish(t, reg, "apps/semver", "1.2.0", app(t, appNS, "1.2.0"), time.Time{}, key)
	s = waitReady(t, ns, "semver", v12.Digest.String())
	if msg, _ := configMessage(t, appNS); msg != "1.2.0" {
		t.Errorf("message %q, want 1.2.0", msg)
	}
	if s.Generation != generation {
		t.Errorf("generation %d, want %d: the Sync was changed", s.Generation, generation)
	}
}

// requestCounter records the requests a client sends, by method and path,
// and which of them may change stored state (anything but GET, HEAD and
// OPTIONS, dry runs excepted).
type requestCounter struct {
	mu          sync.Mutex
	all, writes []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		line := req.Method + " " + req.URL.Path
		c.mu.Lock()
		c.all = append(c.all, line)
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if !strings.Contains(req.URL.RawQuery, "dryRun=") {
				c.writes = append(c.writes, line)
			}
		}
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// take returns what was recorded since the last take and forgets it.
func (c *requestCounter) take() (all, writes []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	all, writes = c.all, c.writes
	c.all, c.writes = nil, nil
	return all, writes
}

// TestControllerUnchangedReconcileWritesNothing: once a Sync is Ready and
// the drift watch of its objects has listed them, its periodic reconciles of
// the unchanged digest ask the registry one HEAD each and neither write to
// the API server (no Reconciling condition, no unchanged status patch, no
// event) nor read the applied objects (nothing is rendered or applied again).
func TestControllerUnchangedReconcileWritesNothing(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-quiet", "ctl-quiet-app"
	createNamespace(t, ns)
	var access registrytest.Access
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: access.Wrap})
	key := newKeyPair(t)
	v1 := publish(t, reg, "apps/quiet", "stable", app(t, appNS, "one"), time.Time{}, key)
	var requests requestCounter
	startController(t, ns, func(o *Options) {
		cfg := rest.CopyConfig(env.Config)
		cfg.WrapTransport = requests.wrap
		o.RestConfig = cfg
		// However slow this machine, the first apply ends before the
		// Sync would show Reconciling.
		o.ReconcilingDelay = time.Hour
	})
	if err := c.Create(ctx, newSync(ns, "quiet", "oci://"+reg.Repo("apps/quiet"), "stable", time.Second, key)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "quiet", v1.Digest.String())
	_, writes := requests.take()
	if len(writes) == 0 {
		t.Fatal("no writes counted while the Sync was applied: the counter sees nothing")
	}
	// A reconcile that ends before the delay writes its outcome alone.
	var statusWrites []string
	for _, w := range writes {
		if strings.HasSuffix(w, "/syncs/quiet/status") {
			statusWrites = append(statusWrites, w)
		}
	}
	if len(statusWrites) != 1 {
		t.Errorf("first apply wrote the status %d times (%v); want once, Reconciling not shown before its delay", len(statusWrites), statusWrites)
	}
	// The drift watch starts after the first apply and its first list
	// counts as a change: the reconcile after it applies in full once more.
	more := func(n float64) {
		t.Helper()
		before := reconciles(t, ns, "quiet", resultSuccess)
		eventually(t, 30*time.Second, fmt.Sprintf("%v more reconciles", n), func() (bool, string) {
			got := reconciles(t, ns, "quiet", resultSuccess) - before
			return got >= n, fmt.Sprint(got)
		})
	}
	more(3)
	_, _ = requests.take()
	access.Reset()
	more(3)
	all, writes := requests.take()
	if len(writes) != 0 {
		t.Errorf("unchanged reconciles wrote to the API server: %v", writes)
	}
	for _, r := range all {
		if strings.Contains(r, "/namespaces/"+appNS+"/") {
			t.Errorf("unchanged reconciles read the applied objects: %v", all)
			break
		}
	}
	var heads, others []string
	for _, r := range access.Requests() {
		if r.Method == http.MethodHead && strings.Contains(r.Path, "/manifests/") {
			heads = append(heads, r.Path)
		} else {
			others = append(others, r.Method+" "+r.Path)
		}
	}
	if len(heads) < 2 || len(others) != 0 {
		t.Errorf("registry requests of unchanged reconciles: HEAD %v, others %v; want one manifest HEAD each and nothing else", heads, others)
	}
	s := getSync(t, ns, "quiet")
	if apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReconciling) != nil {
		t.Errorf("Reconciling condition on a Ready Sync: %+v", s.Status.Conditions)
	}

	// An edit is still seen by the drift watch and corrected.
	var cm corev1.ConfigMap
	if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "app-config"}, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["message"] = "edited"
	if err := c.Update(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the edit corrected", func() (bool, string) {
		msg, _ := configMessage(t, appNS)
		return msg == "one", msg
	})
}

// TestControllerShowsReconcilingWhileAChangeIsSlow: a reconcile still at
// work after the delay shows Reconciling=True for the generation worked on,
// and the outcome written after it takes the condition away.
func TestControllerShowsReconcilingWhileAChangeIsSlow(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-slow", "ctl-slow-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	// A Deployment never becomes available here (no controllers run), so
	// waiting for it lasts the Sync's whole timeout.
	dir := app(t, appNS, "one")
	deployment := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: never-ready
  namespace: %s
spec:
  replicas: 1
  selector: {matchLabels: {app: never-ready}}
  template:
    metadata: {labels: {app: never-ready}}
    spec:
      containers: [{name: app, image: registry.invalid/app:1}]
`, appNS)
	if err := os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	publish(t, reg, "apps/slow", "stable", dir, time.Time{}, key)
	startController(t, ns, func(o *Options) { o.ReconcilingDelay = 200 * time.Millisecond })

	s := newSync(ns, "slow", "oci://"+reg.Repo("apps/slow"), "stable", time.Hour, key)
	s.Spec.Wait = true
	s.Spec.Timeout = &metav1.Duration{Duration: 6 * time.Second}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Reconciling=True while the apply waits", func() (bool, string) {
		s = getSync(t, ns, "slow")
		r := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReconciling)
		return r != nil && r.Status == metav1.ConditionTrue && r.ObservedGeneration == s.Generation, fmt.Sprint(s.Status.Conditions)
	})
	eventually(t, 60*time.Second, "the wait's outcome, without Reconciling", func() (bool, string) {
		s = getSync(t, ns, "slow")
		ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Reason == sealiftv1.ReasonHealthCheckFailed &&
			apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReconciling) == nil, fmt.Sprint(s.Status.Conditions)
	})
}
