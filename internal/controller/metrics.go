package controller

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/reconcile"
)

// Results of one reconcile, the result label of sealift_reconcile_total.
const (
	resultSuccess    = "success"
	resultError      = "error"   // transient: retried with back-off
	resultStalled    = "stalled" // terminal: waits for the spec or the source to change
	resultSuspended  = "suspended"
	resultDependency = "dependency_not_ready"
)

// metrics are the controller's Prometheus series. Labels are bounded: a
// Sync's namespace and name (series are dropped when the Sync goes), a
// result from the list above, a condition reason from reconcile's constants
// and an apply action from deploy's.
type metrics struct {
	duration *prometheus.HistogramVec // namespace, name
	total    *prometheus.CounterVec   // namespace, name, result, reason
	ready    *prometheus.GaugeVec     // namespace, name
	latency  *prometheus.HistogramVec // namespace, name
	objects  *prometheus.CounterVec   // namespace, name, action
	verify   *prometheus.CounterVec   // namespace, name, outcome
	drifted  *prometheus.CounterVec   // namespace, name
	fixed    *prometheus.CounterVec   // namespace, name

	// Registry traffic, labelled by registry host (as many as the Syncs
	// name, plus their mirrors), method and status code.
	registryRequests *prometheus.CounterVec // registry, method, code
	registryBytes    *prometheus.CounterVec // registry
	registryWaits    *prometheus.CounterVec // registry

	// The artifact cache.
	cacheLookups   *prometheus.CounterVec // result: hit, miss
	cacheBytes     *prometheus.CounterVec // direction: read, written
	cacheEvictions *prometheus.CounterVec // reason: corrupt, gc
}

// Outcomes of signature verification, the outcome label of sealift_verify_total.
const (
	verifyVerified   = "verified"   // signatures checked now and the policy met
	verifyCached     = "cached"     // a cached verdict for the digest and policy reused
	verifyFailed     = "failed"     // the policy was not met: nothing applied
	verifyUnverified = "unverified" // audit or none mode: applied without a met policy
)

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

// counter is a CounterVec named name with help and labels.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// registeredMetrics returns the controller's metrics, registered once per
// process in controller-runtime's registry (served on the manager's
// metrics endpoint beside controller-runtime's own).
func registeredMetrics() *metrics {
	metricsOnce.Do(func() {
		m := &metrics{
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sealift_reconcile_duration_seconds",
				Help:    "Time one reconcile of a Sync took, from resolve to status.",
				Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
			}, []string{"namespace", "name"}),
			total: counter("sealift_reconcile_total",
				"Reconciles of a Sync by result (success, error, stalled, suspended, dependency_not_ready) and condition reason.",
				"namespace", "name", "result", "reason"),
			ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "sealift_sync_ready",
				Help: "1 when the Sync's Ready condition is True, else 0.",
			}, []string{"namespace", "name"}),
			latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sealift_delivery_latency_seconds",
				Help:    "Time from the artifact's org.opencontainers.image.created annotation to its first successful apply by the Sync.",
				Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
			}, []string{"namespace", "name"}),
			objects: counter("sealift_apply_objects_total",
				"Objects applied or pruned by a Sync, by action (created, configured, unchanged, recreated, deleted, skipped).",
				"namespace", "name", "action"),
		}
		m.verify = counter("sealift_verify_total",
			"Signature checks of a Sync's artifact by outcome (verified, cached, failed, unverified).",
			"namespace", "name", "outcome")
		m.drifted = counter("sealift_drift_detected_total",
			"Objects found differing from the applied revision with drift: detect.",
			"namespace", "name")
		m.fixed = counter("sealift_drift_corrected_total",
			"Objects created or configured again while the applied revision did not change: drift taken back.",
			"namespace", "name")
		m.registryRequests = counter("sealift_registry_requests_total",
			"Registry requests by registry host, method and status code (0 when no response came), retries included.",
			"registry", "method", "code")
		m.registryBytes = counter("sealift_registry_response_bytes_total",
			"Bytes registries announced in responses (Content-Length), by registry host.",
			"registry")
		m.registryWaits = counter("sealift_registry_retry_after_wait_seconds_total",
			"Time requests waited because the registry asked every client to back off (Retry-After).",
			"registry")
		m.cacheLookups = counter("sealift_cache_lookups_total",
			"Cache lookups of a blob by result: hit (served from the cache) or miss (fetched from a registry).",
			"result")
		m.cacheBytes = counter("sealift_cache_bytes_total",
			"Blob bytes read from or written to the cache.",
			"direction")
		m.cacheEvictions = counter("sealift_cache_evictions_total",
			"Blobs removed from the cache: corrupt (failed an integrity check) or gc (no longer referenced).",
			"reason")
		ctrlmetrics.Registry.MustRegister(m.duration, m.total, m.ready, m.latency, m.objects,
			m.verify, m.drifted, m.fixed, m.registryRequests, m.registryBytes, m.registryWaits,
			m.cacheLookups, m.cacheBytes, m.cacheEvictions)
		pull.SetRequestObserver(m)
		theMetrics = m
	})
	return theMetrics
}

func (m *metrics) observe(key types.NamespacedName, result, reason string, took time.Duration) {
	m.duration.WithLabelValues(key.Namespace, key.Name).Observe(took.Seconds())
	m.total.WithLabelValues(key.Namespace, key.Name, result, reason).Inc()
}

func (m *metrics) setReady(key types.NamespacedName, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.ready.WithLabelValues(key.Namespace, key.Name).Set(v)
}

func (m *metrics) changes(key types.NamespacedName, changes []deploy.Change) {
	for _, ch := range changes {
		m.objects.WithLabelValues(key.Namespace, key.Name, string(ch.Action)).Inc()
	}
}

func (m *metrics) deliveryLatency(key types.NamespacedName, created time.Time, applied time.Time) {
	if d := applied.Sub(created); d >= 0 {
		m.latency.WithLabelValues(key.Namespace, key.Name).Observe(d.Seconds())
	}
}

// verified counts the signature check of one reconcile; reconciles that
// stopped before verification count nothing.
func (m *metrics) verified(key types.NamespacedName, res reconcile.Outcome, reason string) {
	outcome := ""
	switch {
	case reason == sealiftv1.ReasonVerificationFailed:
		outcome = verifyFailed
	case res.Digest == "" || res.Verdict.Digest == "":
		return
	case !res.Verdict.Verified:
		outcome = verifyUnverified
	case res.VerdictCached:
		outcome = verifyCached
	default:
		outcome = verifyVerified
	}
	m.verify.WithLabelValues(key.Namespace, key.Name, outcome).Inc()
}

// drift counts what drift: detect found, and the objects a re-apply of an
// unchanged revision had to create or configure again.
func (m *metrics) drift(key types.NamespacedName, res reconcile.Outcome, sameRevision bool) {
	if n := len(res.Drifted); n > 0 {
		m.drifted.WithLabelValues(key.Namespace, key.Name).Add(float64(n))
	}
	if !sameRevision {
		return
	}
	fixed := 0
	for _, ch := range res.Changes {
		switch ch.Action {
		case deploy.ActionCreated, deploy.ActionConfigured, deploy.ActionRecreated:
			fixed++
		}
	}
	if fixed > 0 {
		m.fixed.WithLabelValues(key.Namespace, key.Name).Add(float64(fixed))
	}
}

// RegistryRequest implements pull.RequestObserver.
func (m *metrics) RegistryRequest(host, method string, code int, bytes int64, _ error) {
	m.registryRequests.WithLabelValues(host, method, strconv.Itoa(code)).Inc()
	if bytes > 0 {
		m.registryBytes.WithLabelValues(host).Add(float64(bytes))
	}
}

// RegistryWait implements pull.RequestObserver.
func (m *metrics) RegistryWait(host string, d time.Duration) {
	m.registryWaits.WithLabelValues(host).Add(d.Seconds())
}

// cacheMetrics feeds the cache's counts into m; it implements cache.Metrics.
type cacheMetrics struct{ m *metrics }

func (c cacheMetrics) Hit()              { c.m.cacheLookups.WithLabelValues("hit").Inc() }
func (c cacheMetrics) Miss()             { c.m.cacheLookups.WithLabelValues("miss").Inc() }
func (c cacheMetrics) BytesRead(n int64) { c.m.cacheBytes.WithLabelValues("read").Add(float64(n)) }
func (c cacheMetrics) BytesWritten(n int64) {
	c.m.cacheBytes.WithLabelValues("written").Add(float64(n))
}
func (c cacheMetrics) Evicted() { c.m.cacheEvictions.WithLabelValues("corrupt").Inc() }

// collected counts blobs cache GC removed.
func (m *metrics) collected(n int) {
	if n > 0 {
		m.cacheEvictions.WithLabelValues("gc").Add(float64(n))
	}
}

// forget drops every series of a Sync that is gone.
func (m *metrics) forget(key types.NamespacedName) {
	match := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	m.duration.DeletePartialMatch(match)
	m.total.DeletePartialMatch(match)
	m.ready.DeletePartialMatch(match)
	m.latency.DeletePartialMatch(match)
	m.objects.DeletePartialMatch(match)
	m.verify.DeletePartialMatch(match)
	m.drifted.DeletePartialMatch(match)
	m.fixed.DeletePartialMatch(match)
}
