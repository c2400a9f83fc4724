package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sealift-dev/sealift/deploy"
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
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

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
			total: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sealift_reconcile_total",
				Help: "Reconciles of a Sync by result (success, error, stalled, suspended, dependency_not_ready) and condition reason.",
			}, []string{"namespace", "name", "result", "reason"}),
			ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "sealift_sync_ready",
				Help: "1 when the Sync's Ready condition is True, else 0.",
			}, []string{"namespace", "name"}),
			latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sealift_delivery_latency_seconds",
				Help:    "Time from the artifact's org.opencontainers.image.created annotation to its first successful apply by the Sync.",
				Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
			}, []string{"namespace", "name"}),
			objects: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sealift_apply_objects_total",
				Help: "Objects applied or pruned by a Sync, by action (created, configured, unchanged, recreated, deleted, skipped).",
			}, []string{"namespace", "name", "action"}),
		}
		ctrlmetrics.Registry.MustRegister(m.duration, m.total, m.ready, m.latency, m.objects)
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

// forget drops every series of a Sync that is gone.
func (m *metrics) forget(key types.NamespacedName) {
	match := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	m.duration.DeletePartialMatch(match)
	m.total.DeletePartialMatch(match)
	m.ready.DeletePartialMatch(match)
	m.latency.DeletePartialMatch(match)
	m.objects.DeletePartialMatch(match)
}
