package deploy

import (
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldOwner is the server-side apply field manager sealift applies as.
const FieldOwner = "sealift"

const (
	// DefaultConcurrency bounds the objects applied at once within a stage:
	// enough to hide round trips, few enough not to flood the API server.
	DefaultConcurrency = 8
	// ClientQPS and ClientBurst are the minimum client rate limits, those of a
	// controller: client-go's 5/10 would take 20 s to apply 100 objects.
	ClientQPS   = 50
	ClientBurst = 100
)

// ManagerOptions tunes a Manager. The zero value applies as FieldOwner with
// DefaultConcurrency and keeps each object's own namespace.
type ManagerOptions struct {
	// FieldOwner is the field manager name; "" means FieldOwner.
	FieldOwner string
	// Concurrency bounds concurrent applies within a stage; zero means
	// DefaultConcurrency.
	Concurrency int
	// TargetNamespace, when set, replaces metadata.namespace of every
	// namespaced object. Cluster-scoped objects are left alone.
	TargetNamespace string
}

// Manager applies sets of objects to one cluster with server-side apply.
// It is safe for concurrent use.
type Manager struct {
	client      dynamic.Interface
	mapper      meta.ResettableRESTMapper
	owner       string
	concurrency int
	namespace   string

	resetMu sync.Mutex // serialises mapper resets
}

// NewManager returns a Manager talking to the cluster cfg reaches. It copies
// cfg and raises its rate limits to at least ClientQPS and ClientBurst.
func NewManager(cfg *rest.Config, opts ManagerOptions) (*Manager, error) {
	if cfg == nil {
		return nil, errors.New("deploy: nil rest config")
	}
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("deploy: negative concurrency %d", opts.Concurrency)
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS < ClientQPS {
		cfg.QPS = ClientQPS
	}
	if cfg.Burst < ClientBurst {
		cfg.Burst = ClientBurst
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: discovery client: %w", err)
	}
	m := &Manager{
		client:      client,
		mapper:      restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		owner:       opts.FieldOwner,
		concurrency: opts.Concurrency,
		namespace:   opts.TargetNamespace,
	}
	if m.owner == "" {
		m.owner = FieldOwner
	}
	if m.concurrency == 0 {
		m.concurrency = DefaultConcurrency
	}
	return m, nil
}

// mapping resolves gvk, refreshing discovery once when the kind is unknown
// so kinds defined by CRDs applied moments ago resolve.
func (m *Manager) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mp, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err == nil || !meta.IsNoMatchError(err) {
		return mp, err
	}
	m.resetMu.Lock()
	m.mapper.Reset()
	m.resetMu.Unlock()
	return m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}
