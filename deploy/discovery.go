package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/internal/limits"
)

// discoveryAccept asks for aggregated discovery (one document for all
// groups, served by kube-apiserver 1.30 and later) and takes the legacy
// documents from older servers.
const discoveryAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;q=0.9"

const (
	// discoveryTimeout bounds one load of the discovery documents, so an
	// API server that stops answering fails the apply instead of hanging it.
	discoveryTimeout = time.Minute
	// discoveryConcurrency bounds the legacy per-group-version requests in
	// flight.
	discoveryConcurrency = 8
	// discoveryAttempts is how often one discovery request is tried when
	// the server sheds it (429, 503), waiting as Retry-After says, at most
	// maxDiscoveryRetryWait each time.
	discoveryAttempts     = 4
	maxDiscoveryRetryWait = 5 * time.Second
)

// restMapper maps kinds to resources from the API server's discovery
// documents, loaded on first use and again after Reset. It is what apply,
// prune, diff and wait need of a RESTMapper and nothing more: it reads
// discovery with two requests on current servers and keeps client-go's
// discovery client, and the typed scheme that comes with it, out of the
// binary.
type restMapper struct {
	client    *http.Client
	base      *url.URL
	userAgent string

	mu          sync.Mutex
	kinds       map[schema.GroupKind][]kindMapping // preferred version first
	unavailable map[string]string                  // group → an unavailable version's reason
	loaded      bool
	flight      singleflight.Group // shares one load between concurrent callers
}

// kindMapping is one version of a kind as the server serves it.
type kindMapping struct {
	version    string
	resource   string
	namespaced bool
}

// discovered is what one load of discovery found.
type discovered struct {
	kinds       map[schema.GroupKind][]kindMapping
	unavailable map[string]string
	aggregated  bool // both roots answered with aggregated discovery
}

// UnavailableKindError says a kind is not known because the API server
// could not describe its group (an aggregated API that is down, a group
// version that failed to answer). Unlike a kind that is not served, it is
// worth retrying, and an object of that kind must not be treated as gone.
type UnavailableKindError struct {
	GroupKind schema.GroupKind
	Reason    string
}

func (e *UnavailableKindError) Error() string {
	return fmt.Sprintf("kind %s: its API group is unavailable on the API server (%s); retry once it is served again", e.GroupKind, e.Reason)
}

func newRESTMapper(cfg *rest.Config, client *http.Client) (*restMapper, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: discovery: %w", err)
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = rest.DefaultKubernetesUserAgent()
	}
	return &restMapper{client: client, base: base, userAgent: ua}, nil
}

// Reset forgets what discovery said, so the next mapping reloads it (kinds
// defined by CustomResourceDefinitions applied meanwhile).
func (r *restMapper) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds, r.unavailable, r.loaded = nil, nil, false
}

// RESTMapping returns the resource serving gk in the first of versions the
// server serves, or in its preferred version when versions is empty. A kind
// the server does not serve is a *meta.NoKindMatchError; a kind whose group
// the server could not describe is an *UnavailableKindError.
func (r *restMapper) RESTMapping(ctx context.Context, gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	kinds, unavailable, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	served := kinds[gk]
	pick := func(km kindMapping) *meta.RESTMapping {
		scope := meta.RESTScopeRoot
		if km.namespaced {
			scope = meta.RESTScopeNamespace
		}
		gvk := gk.WithVersion(km.version)
		return &meta.RESTMapping{Resource: gvk.GroupVersion().WithResource(km.resource), GroupVersionKind: gvk, Scope: scope}
	}
	var wanted []string
	for _, v := range versions {
		if v != "" {
			wanted = append(wanted, v)
		}
	}
	if len(wanted) == 0 && len(served) > 0 {
		return pick(served[0]), nil
	}
	for _, v := range wanted {
		for _, km := range served {
			if km.version == v {
				return pick(km), nil
			}
		}
	}
	if reason, ok := unavailable[gk.Group]; ok {
		return nil, &UnavailableKindError{GroupKind: gk, Reason: reason}
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: wanted}
}

// load returns the kinds, reading discovery when they are not loaded.
// Concurrent callers share one load (singleflight); each waits no longer
// than its ctx.
func (r *restMapper) load(ctx context.Context) (map[schema.GroupKind][]kindMapping, map[string]string, error) {
	r.mu.Lock()
	if r.loaded {
		defer r.mu.Unlock()
		return r.kinds, r.unavailable, nil
	}
	r.mu.Unlock()
	// The load runs on its own deadline, detached from the caller that
	// started it, so one impatient caller does not fail it for the others.
	loadCtx := context.WithoutCancel(ctx)
	ch := r.flight.DoChan("discovery", func() (any, error) {
		ctx, cancel := context.WithTimeout(loadCtx, discoveryTimeout)
		defer cancel()
		d, err := r.discover(ctx, true)
		if err != nil {
			return nil, fmt.Errorf("deploy: discovery: %w", err)
		}
		r.mu.Lock()
		r.kinds, r.unavailable, r.loaded = d.kinds, d.unavailable, true
		r.mu.Unlock()
		return nil, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, nil, res.Err
		}
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("deploy: discovery: %w", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kinds, r.unavailable, nil
}

// discover reads the core group at /api and the named groups at /apis,
// asking for aggregated discovery when negotiate is set.
func (r *restMapper) discover(ctx context.Context, negotiate bool) (*discovered, error) {
	d := &discovered{kinds: map[schema.GroupKind][]kindMapping{}, unavailable: map[string]string{}, aggregated: true}
	budget := limits.MaxDiscoveryBytes
	for _, root := range []string{"/api", "/apis"} {
		body, aggregated, err := r.get(ctx, root, negotiate, &budget)
		if err != nil {
			return nil, err
		}
		if aggregated {
			if err := d.addAggregated(root, body); err != nil {
				return nil, err
			}
			continue
		}
		d.aggregated = false
		if err := r.addLegacy(ctx, d, root, body, &budget); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// addAggregated adds the kinds of an APIGroupDiscoveryList. Versions come
// in the server's order of preference; a stale one (an aggregated API that
// is down) marks its group unavailable.
func (d *discovered) addAggregated(root string, body []byte) error {
	var list apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("%s: malformed aggregated discovery document: %w", root, err)
	}
	for _, g := range list.Items {
		for _, v := range g.Versions {
			if v.Freshness == apidiscoveryv2.DiscoveryFreshnessStale {
				d.unavailable[g.Name] = fmt.Sprintf("%s is stale in discovery", schema.GroupVersion{Group: g.Name, Version: v.Version})
				continue
			}
			for _, res := range v.Resources {
				if res.ResponseKind == nil || res.ResponseKind.Kind == "" || strings.Contains(res.Resource, "/") {
					continue
				}
				d.add(schema.GroupKind{Group: g.Name, Kind: res.ResponseKind.Kind}, kindMapping{
					version:    v.Version,
					resource:   res.Resource,
					namespaced: res.Scope == apidiscoveryv2.ScopeNamespace,
				})
			}
		}
	}
	return nil
}

// addLegacy adds the kinds of servers without aggregated discovery: the
// group list, then one resource list per group version, read a few at a
// time. A group version that fails to answer marks its group unavailable,
// as client-go tolerates it, instead of failing every mapping.
func (r *restMapper) addLegacy(ctx context.Context, d *discovered, root string, body []byte, budget *int64) error {
	type groupVersion struct{ group, version string }
	var gvs []groupVersion
	if root == "/api" {
		var v metav1.APIVersions
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s: malformed discovery document: %w", root, err)
		}
		for _, version := range v.Versions {
			gvs = append(gvs, groupVersion{version: version})
		}
	} else {
		var list metav1.APIGroupList
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("%s: malformed discovery document: %w", root, err)
		}
		for _, g := range list.Groups {
			gvs = append(gvs, groupVersion{g.Name, g.PreferredVersion.Version})
			for _, v := range g.Versions {
				if v.Version != g.PreferredVersion.Version {
					gvs = append(gvs, groupVersion{g.Name, v.Version})
				}
			}
		}
	}
	type result struct {
		list *metav1.APIResourceList
		err  error
	}
	// Each slot is written by its own request; a slot left zero (no list,
	// no error) cannot happen once Wait returns.
	results := make([]result, len(gvs))
	var (
		g        errgroup.Group
		budgetMu sync.Mutex
	)
	g.SetLimit(discoveryConcurrency)
	for i, gv := range gvs {
		g.Go(func() error {
			p := path.Join(root, gv.group, gv.version)
			body, _, err := r.get(ctx, p, false, nil)
			if err == nil {
				budgetMu.Lock()
				*budget -= int64(len(body))
				over := *budget < 0
				budgetMu.Unlock()
				if over {
					err = fmt.Errorf("discovery documents larger than %d bytes in all", limits.MaxDiscoveryBytes)
				}
			}
			if err != nil {
				results[i].err = err
				return nil
			}
			var list metav1.APIResourceList
			if err := json.Unmarshal(body, &list); err != nil {
				results[i].err = fmt.Errorf("%s: malformed resource list: %w", p, err)
				return nil
			}
			results[i].list = &list
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	// In preference order, so each kind's preferred version comes first.
	for i, gv := range gvs {
		if err := results[i].err; err != nil {
			d.unavailable[gv.group] = err.Error()
			continue
		}
		for _, res := range results[i].list.APIResources {
			if res.Kind == "" || strings.Contains(res.Name, "/") {
				continue
			}
			d.add(schema.GroupKind{Group: gv.group, Kind: res.Kind}, kindMapping{
				version: gv.version, resource: res.Name, namespaced: res.Namespaced,
			})
		}
	}
	return nil
}

// add records one served version of gk; the first resource listed for a
// kind in a version wins.
func (d *discovered) add(gk schema.GroupKind, km kindMapping) {
	for _, have := range d.kinds[gk] {
		if have.version == km.version {
			return
		}
	}
	d.kinds[gk] = append(d.kinds[gk], km)
}

// get reads one discovery document, bounded by limits.MaxDiscoveryBytes and
// by budget when one is given, and says whether the server answered with
// aggregated discovery. A request the server sheds (429, 503) is tried
// again as its Retry-After says. A failure status is an API status error,
// so apierrors' predicates (IsUnauthorized, IsTooManyRequests, ...) apply.
func (r *restMapper) get(ctx context.Context, p string, negotiate bool, budget *int64) ([]byte, bool, error) {
	u := *r.base
	u.Path = path.Join(u.Path, p)
	accept := "application/json"
	if negotiate {
		accept = discoveryAccept
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, false, err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", r.userAgent)
		resp, err := r.client.Do(req)
		if err != nil {
			return nil, false, fmt.Errorf("GET %s: %w", p, err)
		}
		limit := limits.MaxDiscoveryBytes
		if budget != nil && *budget < limit {
			limit = *budget
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		resp.Body.Close()
		if err != nil {
			return nil, false, fmt.Errorf("GET %s: %w", p, err)
		}
		if int64(len(body)) > limit {
			return nil, false, fmt.Errorf("GET %s: discovery documents larger than %d bytes", p, limits.MaxDiscoveryBytes)
		}
		if resp.StatusCode == http.StatusOK {
			if budget != nil {
				*budget -= int64(len(body))
			}
			_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			aggregated := params["g"] == apidiscoveryv2.SchemeGroupVersion.Group &&
				params["v"] == apidiscoveryv2.SchemeGroupVersion.Version &&
				params["as"] == "APIGroupDiscoveryList"
			return body, aggregated, nil
		}
		shed := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
		if shed && attempt < discoveryAttempts {
			wait := retryAfter(resp.Header.Get("Retry-After"), attempt)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, false, fmt.Errorf("GET %s: %w", p, ctx.Err())
			}
		}
		const maxShown = 512
		shown := strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
		if len(shown) > maxShown {
			shown = shown[:maxShown] + "..."
		}
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, false, fmt.Errorf("GET %s: %w", p,
			apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodGet, schema.GroupResource{}, "", shown, retry, true))
	}
}

// retryAfter is how long to wait before attempt+1: the server's Retry-After
// in seconds, or a short doubling back-off, at most maxDiscoveryRetryWait.
func retryAfter(header string, attempt int) time.Duration {
	wait := time.Duration(100<<attempt) * time.Millisecond
	if s, err := strconv.Atoi(strings.TrimSpace(header)); err == nil && s >= 0 {
		wait = time.Duration(s) * time.Second
	}
	return min(wait, maxDiscoveryRetryWait)
}
