package controller

import (
	"context"
	"errors"
	"fmt"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/reconcile"
)

// Defaults of Options, in Flux's conventions.
const (
	// DefaultConcurrent Syncs reconcile at once. A reconcile is bound by
	// round trips to the registry and the API server, not by CPU, and the
	// engine bounds the requests in flight to each (MaxAPIRequests and
	// the per-registry bound), so more workers cost no more load: 1 000
	// new Syncs on 2 cores took 35.1 s with 4 and 31.2 s with 8 back to back
	// (make bench-engine), at the same peak RSS.
	DefaultConcurrent  = 8
	DefaultMetricsAddr = ":8080"
	DefaultHealthAddr  = ":9440"
	// DefaultCacheDir is the cache's directory in the controller's Pod.
	DefaultCacheDir = "/var/cache/sealift"
	// LeaderElectionID names the Lease replicas compete for.
	LeaderElectionID = "sealift-controller-leader-election"
	// controllerName names the controller in logs, metrics and events.
	controllerName = "sealift-controller"
)

// Options configure Run. AddFlags registers them as flags.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster service account.
	Kubeconfig string
	// RestConfig, when set, is used instead of Kubeconfig.
	RestConfig *rest.Config

	Concurrent int
	// MaxAPIRequests bounds the engine's API requests in flight across
	// every Sync; zero means limits.MaxAPIRequestsInFlight.
	MaxAPIRequests int
	MetricsAddr    string // "0" turns the metrics endpoint off
	HealthAddr     string // "0" turns /healthz and /readyz off
	// PprofAddr serves Go's /debug/pprof/ profiles; empty (the default)
	// serves none.
	PprofAddr string

	LeaderElection          bool
	LeaderElectionNamespace string // default: the Pod's namespace
	// Lease timings; zero means controller-runtime's (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	WatchNamespace     string // empty: every namespace
	WatchLabelSelector string // only Syncs matching it

	CacheDir   string
	GCInterval time.Duration // zero means DefaultGCInterval
	// ReconcilingDelay is how long a change is worked on before the Sync
	// shows Reconciling=True; zero means the constant ReconcilingDelay.
	ReconcilingDelay time.Duration

	DefaultServiceAccount string
	NoCrossNamespaceRefs  bool

	// Remote carries registry options shared by every Sync.
	Remote pull.RemoteOptions

	LogLevel    string // debug, info or error
	LogEncoding string // json or console
	// LogWriter receives the logs; nil means standard error.
	LogWriter io.Writer
	// Logger, when set, is used instead of LogLevel, LogEncoding and LogWriter.
	Logger *logr.Logger

	// SkipNameValidation lets several managers run in one process (tests).
	SkipNameValidation bool
}

// AddFlags registers o's fields as flags, with their defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig (default $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
	fs.IntVar(&o.Concurrent, "concurrent", DefaultConcurrent, "number of Syncs reconciled at once")
	fs.IntVar(&o.MaxAPIRequests, "max-api-requests", limits.MaxAPIRequestsInFlight, "API requests the engine keeps in flight at most, across every Sync")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", DefaultMetricsAddr, "address of the Prometheus /metrics endpoint (0 turns it off)")
	fs.StringVar(&o.HealthAddr, "health-addr", DefaultHealthAddr, "address of the /healthz and /readyz endpoints (0 turns them off)")
	fs.StringVar(&o.PprofAddr, "pprof-addr", "", "address of Go's /debug/pprof/ profiles (default: off)")
	fs.BoolVar(&o.LeaderElection, "enable-leader-election", false, "elect one active replica with a Lease; the others stand by")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the Pod's namespace)")
	fs.StringVar(&o.WatchNamespace, "watch-namespace", "", "reconcile only the Syncs of this namespace (default: every namespace)")
	fs.StringVar(&o.WatchLabelSelector, "watch-label-selector", "", "reconcile only the Syncs matching this label selector, to shard Syncs across controllers")
	fs.StringVar(&o.CacheDir, "cache-dir", DefaultCacheDir, "directory of the artifact cache (opened by the leader only)")
	fs.StringVar(&o.DefaultServiceAccount, "default-service-account", "", "service account (in the Sync's namespace) impersonated by Syncs that name none")
	fs.BoolVar(&o.NoCrossNamespaceRefs, "no-cross-namespace-refs", false, "refuse Syncs whose targetNamespace is not their own namespace")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log verbosity: debug, info or error")
	fs.StringVar(&o.LogEncoding, "log-encoding", "json", "log format: json or console")
}

// Validate checks o before anything starts.
func (o *Options) Validate() error {
	if o.Concurrent < 1 {
		return fmt.Errorf("--concurrent %d: must be at least 1", o.Concurrent)
	}
	if o.MaxAPIRequests < 0 {
		return fmt.Errorf("--max-api-requests %d: must be positive", o.MaxAPIRequests)
	}
	if o.CacheDir == "" {
		return errors.New("--cache-dir is required")
	}
	if _, err := labels.Parse(o.WatchLabelSelector); err != nil {
		return fmt.Errorf("--watch-label-selector %q: %w", o.WatchLabelSelector, err)
	}
	if _, err := o.level(); err != nil {
		return err
	}
	switch o.LogEncoding {
	case "", "json", "console":
	default:
		return fmt.Errorf("--log-encoding %q: want json or console", o.LogEncoding)
	}
	return nil
}

func (o *Options) level() (zapcore.Level, error) {
	switch o.LogLevel {
	case "", "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info or error", o.LogLevel)
}

func (o *Options) logger() logr.Logger {
	if o.Logger != nil {
		return *o.Logger
	}
	lvl, _ := o.level()
	opts := []ctrlzap.Opts{ctrlzap.Level(lvl)}
	if o.LogEncoding == "console" {
		opts = append(opts, ctrlzap.ConsoleEncoder())
	} else {
		opts = append(opts, ctrlzap.JSONEncoder())
	}
	if o.LogWriter != nil {
		opts = append(opts, ctrlzap.WriteTo(o.LogWriter))
	}
	return ctrlzap.New(opts...)
}

// restConfig finds the cluster as kubectl does: the flag, $KUBECONFIG,
// ~/.kube/config, then the in-cluster service account.
func (o *Options) restConfig() (*rest.Config, error) {
	if o.RestConfig != nil {
		cfg := rest.CopyConfig(o.RestConfig)
		deploy.NoClientRateLimit(cfg)
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	deploy.NoClientRateLimit(cfg)
	return cfg, nil
}

// NewScheme returns a scheme holding the built-in types and Sync.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := sealiftv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Run runs the controller until ctx ends or leadership is lost.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log := o.logger()
	ctrllog.SetLogger(log)
	mgr, err := NewManager(o, log)
	if err != nil {
		return err
	}
	log.Info("starting", "concurrent", o.Concurrent, "leaderElection", o.LeaderElection,
		"watchNamespace", o.WatchNamespace, "watchLabelSelector", o.WatchLabelSelector, "cacheDir", o.CacheDir)
	return mgr.Start(ctx)
}

// NewManager builds the manager with the Sync controller, the shared cache,
// health checks and metrics, without starting it.
func NewManager(o Options, log logr.Logger) (manager.Manager, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	syncCache := ctrlcache.ByObject{}
	if o.WatchLabelSelector != "" {
		sel, err := labels.Parse(o.WatchLabelSelector)
		if err != nil {
			return nil, fmt.Errorf("--watch-label-selector: %w", err)
		}
		syncCache.Label = sel
	}
	cacheOpts := ctrlcache.Options{ByObject: map[client.Object]ctrlcache.ByObject{&sealiftv1.Sync{}: syncCache}}
	if o.WatchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]ctrlcache.Config{o.WatchNamespace: {}}
	}
	mopts := manager.Options{
		Scheme:                        scheme,
		Logger:                        log,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: orDefault(o.MetricsAddr, DefaultMetricsAddr)},
		HealthProbeBindAddress:        orDefault(o.HealthAddr, DefaultHealthAddr),
		PprofBindAddress:              o.PprofAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: &o.SkipNameValidation},
	}
	if mopts.HealthProbeBindAddress == "0" {
		mopts.HealthProbeBindAddress = ""
	}
	if o.LeaderElection && o.LeaderElectionNamespace == "" {
		mopts.LeaderElectionNamespace = podNamespace()
	}
	for _, d := range []struct {
		v   time.Duration
		dst **time.Duration
	}{{o.LeaseDuration, &mopts.LeaseDuration}, {o.RenewDeadline, &mopts.RenewDeadline}, {o.RetryPeriod, &mopts.RetryPeriod}} {
		if d.v > 0 {
			v := d.v
			*d.dst = &v
		}
	}
	mgr, err := manager.New(cfg, mopts)
	if err != nil {
		return nil, setupError(err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}

	concurrent := o.Concurrent
	if concurrent == 0 {
		concurrent = DefaultConcurrent
	}
	m := registeredMetrics()
	shared := newSharedCache(o.CacheDir, cache.Options{Metrics: cacheMetrics{m}}, o.GCInterval, log.WithName("cache"))
	shared.collected = m.collected
	if err := mgr.Add(shared); err != nil {
		return nil, err
	}
	r := &SyncReconciler{
		Client:                mgr.GetClient(),
		APIReader:             mgr.GetAPIReader(),
		Engine:                reconcile.Engine{RestConfig: limitAPI(mgr.GetConfig(), orDefaultInt(o.MaxAPIRequests, limits.MaxAPIRequestsInFlight)), Remote: o.Remote, Managers: &reconcile.ManagerCache{}},
		Recorder:              mgr.GetEventRecorder(controllerName),
		DefaultServiceAccount: o.DefaultServiceAccount,
		NoCrossNamespaceRefs:  o.NoCrossNamespaceRefs,
		cache:                 shared,
		limiter:               newRetryLimiter(),
		poller:                newStalledPoller(),
		metrics:               m,
		now:                   time.Now,
		reconcilingDelay:      o.ReconcilingDelay,
	}
	if r.reconcilingDelay <= 0 {
		r.reconcilingDelay = ReconcilingDelay
	}
	if err := mgr.Add(r.poller); err != nil {
		return nil, err
	}
	if r.drift, err = newDriftWatches(mgr, o.WatchNamespace, log.WithName("drift")); err != nil {
		return nil, err
	}
	// An unchanged revision whose objects the drift watches saw untouched
	// is not rendered and applied again at each interval.
	r.Engine.Untouched = r.drift.untouched
	ctrl, err := builder.ControllerManagedBy(mgr).
		Named("sync").
		For(&sealiftv1.Sync{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Channel(r.poller.events, &handler.EnqueueRequestForObject{})).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: concurrent, RateLimiter: r.limiter}).
		Build(r)
	if err != nil {
		return nil, setupError(err)
	}
	r.drift.setController(ctrl)
	return mgr, nil
}

// setupError says what to do when the cluster does not serve Syncs.
func setupError(err error) error {
	if apimeta.IsNoMatchError(err) || strings.Contains(err.Error(), "no matches for "+sealiftv1.GroupVersion.String()) {
		return fmt.Errorf("controller: the API server does not serve %s Sync: install the CRD (config/crd/sealift.dev_syncs.yaml) first: %w", sealiftv1.GroupVersion, err)
	}
	return fmt.Errorf("controller: %w", err)
}

func orDefaultInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// podNamespace is the namespace the controller runs in: $POD_NAMESPACE,
// the service account's namespace file, else sealift-system.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(data)); ns != "" {
			return ns
		}
	}
	return "sealift-system"
}
