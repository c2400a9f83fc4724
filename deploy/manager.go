package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/errdef"
)

// FieldOwner is the server-side apply field manager sealift applies as.
const FieldOwner = "sealift"

const (
	// DefaultConcurrency bounds the requests one apply keeps in flight. On a
	// 2-core API server, 1 000 creates take a quarter less time at 32 than
	// at 16 and the server's CPU is then the bound (64 saves under a tenth
	// more), and 32 stays within the seats API Priority and Fairness gives
	// the levels a controller's or a user's requests fall in (workload-low,
	// about 245 of a default server's 600; global-default, about 49).
	DefaultConcurrency = 32
)

// ManagerOptions tunes a Manager: the settings of its connection to the
// cluster, which every apply shares, and the ApplyOptions of its applies.
// The zero value applies as FieldOwner with DefaultConcurrency, with the
// engine's own rights, and keeps each object's own namespace.
type ManagerOptions struct {
	// FieldOwner is the field manager name; "" means FieldOwner.
	FieldOwner string
	// Concurrency bounds the requests an apply, prune, diff or wait keeps
	// in flight; zero means DefaultConcurrency. It, not a client-side
	// request rate, bounds the load a Manager puts on the API server.
	Concurrency int
	// ServiceAccount, as "namespace/name", makes every request impersonate
	// that service account, so RBAC limits what the Manager can touch.
	ServiceAccount string
	// ApplyOptions are the settings of the Manager's applies; With returns
	// a Manager with others that shares this one's client and discovery.
	ApplyOptions
}

// ApplyOptions are the settings of one sync's applies, prunes and diffs,
// apart from the connection a Manager holds, as fluxcd's ssa.ApplyOptions
// are. The zero value applies for no sync, keeps each object's own
// namespace and adopts by AdoptUnowned.
type ApplyOptions struct {
	// TargetNamespace, when set, replaces metadata.namespace of every
	// namespaced object and confines the Manager to that namespace:
	// cluster-scoped objects are refused unless AllowClusterScoped is set.
	TargetNamespace string
	// AllowClusterScoped lets a Manager with a TargetNamespace apply
	// cluster-scoped objects (Namespaces, ClusterRoles, CRDs...). Without a
	// TargetNamespace they are always allowed; RBAC, through ServiceAccount,
	// is what bounds them then.
	AllowClusterScoped bool
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
}

func (o ApplyOptions) validate() error {
	if err := o.Owner.validate(); err != nil {
		return err
	}
	switch o.Adopt {
	case AdoptUnowned, AdoptAlways, AdoptNever:
	default:
		return fmt.Errorf("deploy: unknown adopt policy %q (want %q or %q): %w", o.Adopt, AdoptAlways, AdoptNever, errdef.ErrInvalidObject)
	}
	return nil
}

// AdoptPolicy decides whether an existing object that does not carry the
// owner's labels may be taken over. Every adoption is reported in the
// ChangeSet (Change.Adopted); none is silent.
type AdoptPolicy string

const (
	// AdoptUnowned, the default, adopts namespaced objects that carry no
	// sync's ownership labels. It refuses objects that carry another sync's
	// labels, and every existing cluster-scoped object (a platform
	// ClusterRole, a Namespace, a CRD): taking one of those over changes the
	// whole cluster, so it needs AdoptAlways.
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
	client dynamic.Interface
	// writer sends the applies whose result is not read: the API server
	// answers it with the object's metadata alone, which it encodes, and
	// the client decodes, for a fraction of the whole object's cost.
	writer             metadata.Interface
	mapper             *restMapper
	fieldOwner         string
	concurrency        int
	namespace          string
	allowClusterScoped bool
	owner              Owner
	adopt              AdoptPolicy
	force              bool
}

// NewManager returns a Manager talking to the cluster cfg reaches. It copies
// cfg and, unless cfg sets a rate limiter or a positive QPS of its own, turns
// client-go's client-side rate limiting off: the API server's Priority and
// Fairness limits the rate, ManagerOptions.Concurrency the requests in
// flight.
func NewManager(cfg *rest.Config, opts ManagerOptions) (*Manager, error) {
	if cfg == nil {
		return nil, errors.New("deploy: nil rest config")
	}
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("deploy: negative concurrency %d: %w", opts.Concurrency, errdef.ErrInvalidObject)
	}
	if err := opts.ApplyOptions.validate(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if opts.ServiceAccount != "" {
		ns, name, ok := strings.Cut(opts.ServiceAccount, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("deploy: service account %q: want namespace/name: %w", opts.ServiceAccount, errdef.ErrInvalidObject)
		}
		// The user name alone: the API server then gives the impersonated
		// service account the groups its own token carries
		// (system:serviceaccounts, system:serviceaccounts:<ns>,
		// system:authenticated), so bindings to them apply as in a pod, and
		// the engine needs the right to impersonate service accounts only,
		// not groups (which RBAC cannot narrow to these three, and which
		// would let it impersonate system:masters).
		cfg.Impersonate = rest.ImpersonationConfig{
			UserName: "system:serviceaccount:" + ns + ":" + name,
		}
	}
	NoClientRateLimit(cfg)
	// One HTTP client, so reads and writes share its connection (HTTP/2
	// multiplexes the requests in flight over it).
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: http client: %w", err)
	}
	client, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("deploy: dynamic client: %w", err)
	}
	writer, err := metadata.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("deploy: metadata client: %w", err)
	}
	mapper, err := newRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		client:      client,
		writer:      writer,
		mapper:      mapper,
		fieldOwner:  opts.FieldOwner,
		concurrency: opts.Concurrency,
	}
	if m.fieldOwner == "" {
		m.fieldOwner = FieldOwner
	}
	if m.concurrency == 0 {
		m.concurrency = DefaultConcurrency
	}
	m.setApplyOptions(opts.ApplyOptions)
	return m, nil
}

// With returns a Manager that applies with opts and shares m's connection:
// its HTTP client, its discovery, its field owner and its concurrency
// (each call keeps its own bound). A long-lived Manager per cluster and
// service account, With one sync's options per reconcile, costs no client
// and no discovery per reconcile.
func (m *Manager) With(opts ApplyOptions) (*Manager, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := *m
	c.setApplyOptions(opts)
	return &c, nil
}

func (m *Manager) setApplyOptions(opts ApplyOptions) {
	m.namespace = opts.TargetNamespace
	m.allowClusterScoped = opts.AllowClusterScoped
	m.owner = opts.Owner
	m.adopt = opts.Adopt
	m.force = opts.Force
}

// mapping resolves gvk, refreshing discovery once when the kind is unknown
// so kinds defined by CRDs applied moments ago resolve.
func (m *Manager) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mp, err := m.mapper.RESTMapping(ctx, gvk.GroupKind(), gvk.Version)
	if err == nil || !meta.IsNoMatchError(err) {
		return mp, err
	}
	m.mapper.Reset()
	return m.mapper.RESTMapping(ctx, gvk.GroupKind(), gvk.Version)
}

// NoClientRateLimit decides cfg's client-side rate limit, for every client
// sealift builds (the CLI, the controller's manager, apply managers). A rate limiter or a
// positive QPS the caller chose is kept. Otherwise (kubeconfig files and the
// in-cluster config leave QPS unset, which client-go reads as 5 requests a
// second, burst 10) client-side rate limiting is turned off, as
// controller-runtime does; kubectl, which builds a client (and so a fresh
// token bucket) per object it applies, is in effect not limited either:
//
//   - the API server protects itself and its other clients with API Priority
//     and Fairness, which queues a flow's excess requests fairly against
//     other flows and sheds what it cannot queue with 429 and Retry-After;
//     client-go honours Retry-After and retries (up to 10 times);
//   - the load one apply puts on the server is bounded by the requests it
//     keeps in flight (ManagerOptions.Concurrency), not by a request rate;
//     a token bucket on top only adds latency once its burst is spent (a
//     1 000-object apply at 50 requests a second takes 19 s, four times as
//     long as kubectl, while the server sits mostly idle).
func NoClientRateLimit(cfg *rest.Config) {
	if cfg.RateLimiter != nil || cfg.QPS > 0 {
		return
	}
	cfg.QPS = -1
}
