package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/internal/limits"
)

// discoveryAccept asks for aggregated discovery (one document for all
// groups, kube-apiserver 1.26 and later) and takes the legacy documents from
// older servers.
const discoveryAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;q=0.9"

// discoveryTimeout bounds one load of the discovery documents, so an API
// server that stops answering fails the apply instead of hanging it.
const discoveryTimeout = time.Minute

// restMapper maps kinds to resources from the API server's discovery
// documents, loaded on first use and again after Reset. It is what apply,
// prune, diff and wait need of a RESTMapper and nothing more: it reads
// discovery with two requests on current servers and keeps client-go's
// discovery client, and the typed scheme that comes with it, out of the
// binary.
type restMapper struct {
	client *http.Client
	base   *url.URL

	mu     sync.Mutex
	kinds  map[schema.GroupKind][]kindMapping // preferred version first
	loaded bool
}

// kindMapping is one version of a kind as the server serves it.
type kindMapping struct {
	version    string
	resource   string
	namespaced bool
}

func newRESTMapper(cfg *rest.Config) (*restMapper, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: discovery client: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("deploy: discovery client: %w", err)
	}
	return &restMapper{client: client, base: base}, nil
}

// Reset forgets what discovery said, so the next mapping reloads it (kinds
// defined by CustomResourceDefinitions applied meanwhile).
func (r *restMapper) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds, r.loaded = nil, false
}

// RESTMapping returns the resource serving gk in the first of versions the
// server serves, or in its preferred version when versions is empty. An
// unknown kind is a *meta.NoKindMatchError.
func (r *restMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	kinds, err := r.load()
	if err != nil {
		return nil, err
	}
	served := kinds[gk]
	pick := func(km kindMapping) *meta.RESTMapping {
		scope := meta.RESTScopeRoot
		if km.namespaced {
			scope = meta.RESTScopeNamespace
		}
		return &meta.RESTMapping{
			Resource:         gk.WithVersion(km.version).GroupVersion().WithResource(km.resource),
			GroupVersionKind: gk.WithVersion(km.version),
			Scope:            scope,
		}
	}
	wanted := versions[:0:0]
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
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: wanted}
}

// load returns the kinds, reading discovery when they are not loaded.
func (r *restMapper) load() (map[schema.GroupKind][]kindMapping, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded {
		return r.kinds, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
	defer cancel()
	kinds, err := r.discoverWith(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("deploy: discovery: %w", err)
	}
	r.kinds, r.loaded = kinds, true
	return kinds, nil
}

// discoverWith reads the core group at /api and the named groups at /apis,
// asking for aggregated discovery when negotiate is set.
func (r *restMapper) discoverWith(ctx context.Context, negotiate bool) (map[schema.GroupKind][]kindMapping, error) {
	kinds := map[schema.GroupKind][]kindMapping{}
	for _, root := range []string{"/api", "/apis"} {
		body, aggregated, err := r.get(ctx, root, negotiate)
		if err != nil {
			return nil, err
		}
		if aggregated {
			if err := addAggregated(kinds, root, body); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.addLegacy(ctx, kinds, root, body); err != nil {
			return nil, err
		}
	}
	return kinds, nil
}

// addAggregated adds the kinds of an APIGroupDiscoveryList. Versions come
// in the server's order of preference; stale ones (an aggregated API that
// is down) are skipped, as client-go does.
func addAggregated(kinds map[schema.GroupKind][]kindMapping, root string, body []byte) error {
	var list apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("%s: malformed aggregated discovery document: %w", root, err)
	}
	for _, g := range list.Items {
		for _, v := range g.Versions {
			if v.Freshness == apidiscoveryv2.DiscoveryFreshnessStale {
				continue
			}
			for _, res := range v.Resources {
				if res.ResponseKind == nil || res.ResponseKind.Kind == "" || strings.Contains(res.Resource, "/") {
					continue
				}
				addKind(kinds, schema.GroupKind{Group: g.Name, Kind: res.ResponseKind.Kind}, kindMapping{
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
// group list, then one resource list per group version.
func (r *restMapper) addLegacy(ctx context.Context, kinds map[schema.GroupKind][]kindMapping, root string, body []byte) error {
	type groupVersions struct {
		group    string
		versions []string
	}
	var groups []groupVersions
	if root == "/api" {
		var v metav1.APIVersions
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s: malformed discovery document: %w", root, err)
		}
		groups = append(groups, groupVersions{versions: v.Versions})
	} else {
		var list metav1.APIGroupList
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("%s: malformed discovery document: %w", root, err)
		}
		for _, g := range list.Groups {
			gv := groupVersions{group: g.Name, versions: []string{g.PreferredVersion.Version}}
			for _, v := range g.Versions {
				if v.Version != g.PreferredVersion.Version {
					gv.versions = append(gv.versions, v.Version)
				}
			}
			groups = append(groups, gv)
		}
	}
	for _, g := range groups {
		for _, v := range g.versions {
			p := path.Join(root, g.group, v)
			body, _, err := r.get(ctx, p, false)
			var status *discoveryStatusError
			if errors.As(err, &status) && status.code == http.StatusServiceUnavailable {
				continue // an aggregated API that is down: its kinds are unknown
			}
			if err != nil {
				return err
			}
			var list metav1.APIResourceList
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("%s: malformed resource list: %w", p, err)
			}
			for _, res := range list.APIResources {
				if res.Kind == "" || strings.Contains(res.Name, "/") {
					continue
				}
				addKind(kinds, schema.GroupKind{Group: g.group, Kind: res.Kind}, kindMapping{
					version: v, resource: res.Name, namespaced: res.Namespaced,
				})
			}
		}
	}
	return nil
}

// addKind records one served version of gk; the first resource listed for a
// kind in a version wins.
func addKind(kinds map[schema.GroupKind][]kindMapping, gk schema.GroupKind, km kindMapping) {
	for _, have := range kinds[gk] {
		if have.version == km.version {
			return
		}
	}
	kinds[gk] = append(kinds[gk], km)
}

// discoveryStatusError is a discovery request the server answered with an
// error status.
type discoveryStatusError struct {
	path string
	code int
	body string
}

func (e *discoveryStatusError) Error() string {
	msg := fmt.Sprintf("GET %s: %s", e.path, http.StatusText(e.code))
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// get reads one discovery document, bounded by limits.MaxDiscoveryBytes,
// and says whether the server answered with aggregated discovery.
func (r *restMapper) get(ctx context.Context, p string, negotiate bool) ([]byte, bool, error) {
	u := *r.base
	u.Path = path.Join(u.Path, p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	if negotiate {
		req.Header.Set("Accept", discoveryAccept)
	} else {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limits.MaxDiscoveryBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", p, err)
	}
	if int64(len(body)) > limits.MaxDiscoveryBytes {
		return nil, false, fmt.Errorf("GET %s: discovery document larger than %d bytes", p, limits.MaxDiscoveryBytes)
	}
	if resp.StatusCode != http.StatusOK {
		const maxShown = 512
		shown := strings.TrimSpace(string(body))
		if len(shown) > maxShown {
			shown = shown[:maxShown] + "…"
		}
		return nil, false, &discoveryStatusError{path: p, code: resp.StatusCode, body: shown}
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	aggregated := params["g"] == apidiscoveryv2.SchemeGroupVersion.Group &&
		params["v"] == apidiscoveryv2.SchemeGroupVersion.Version &&
		params["as"] == "APIGroupDiscoveryList"
	return body, aggregated, nil
}
