package deploy

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
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
	// Owner, when set, is the sync applying: its ownership labels are
	// stamped on every object applied, checked by Adopt and by Prune, and
	// its inventory is kept in the cluster (ReadInventory, WriteInventory).
	Owner Owner
	// Adopt says what to do with an existing object that does not carry
	// Owner's labels; it only matters when Owner is set.
	Adopt AdoptPolicy
	// Force recreates (deletes, then creates) an object whose change the API
	// server refuses because it touches an immutable field. Without it, such
	// a change fails with an error naming the object and the field.
	Force bool
	// ServiceAccount, as "namespace/name", makes every request impersonate
	// that service account, so RBAC limits what the Manager can touch.
	ServiceAccount string
}

// AdoptPolicy decides whether an existing object that does not carry the
// owner's labels may be taken over. Every adoption is reported in the
// ChangeSet (Change.Adopted); none is silent.
type AdoptPolicy string

const (
	// AdoptUnowned, the default, adopts objects that carry no sync's
	// ownership labels and refuses those that carry another sync's.
	AdoptUnowned AdoptPolicy = ""
	// AdoptAlways adopts every existing object, even another sync's.
	AdoptAlways AdoptPolicy = "adopt"
	// AdoptNever refuses every existing object that does not carry the
	// owner's labels.
	AdoptNever AdoptPolicy = "refuse"
)

// Manager applies sets of objects to one cluster with server-side apply.
// It is safe for concurrent use.
type Manager struct {
	client      dynamic.Interface
	mapper      *restMapper
	fieldOwner  string
	concurrency int
	namespace   string
	owner       Owner
	adopt       AdoptPolicy
	force       bool

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
	if err := opts.Owner.validate(); err != nil {
		return nil, err
	}
	switch opts.Adopt {
	case AdoptUnowned, AdoptAlways, AdoptNever:
	default:
		return nil, fmt.Errorf("deploy: unknown adopt policy %q (want %q or %q)", opts.Adopt, AdoptAlways, AdoptNever)
	}
	cfg = rest.CopyConfig(cfg)
	if opts.ServiceAccount != "" {
		ns, name, ok := strings.Cut(opts.ServiceAccount, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("deploy: service account %q: want namespace/name", opts.ServiceAccount)
		}
		// The groups are those the API server gives a service account's own
		// token, so bindings to them apply as they would in a pod.
		cfg.Impersonate = rest.ImpersonationConfig{
			UserName: "system:serviceaccount:" + ns + ":" + name,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		}
	}
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
	mapper, err := newRESTMapper(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		client:      client,
		mapper:      mapper,
		fieldOwner:  opts.FieldOwner,
		concurrency: opts.Concurrency,
		namespace:   opts.TargetNamespace,
		owner:       opts.Owner,
		adopt:       opts.Adopt,
		force:       opts.Force,
	}
	if m.fieldOwner == "" {
		m.fieldOwner = FieldOwner
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
