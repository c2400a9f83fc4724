package deploy

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// DiscoveredKinds reads discovery the way the Manager does — asking for
// aggregated discovery when negotiate is set, the legacy per-group-version
// documents otherwise — and lists every served "group/Kind version resource
// scope", sorted, for tests to compare. aggregated says whether the server
// answered both roots with aggregated discovery.
func DiscoveredKinds(ctx context.Context, cfg *rest.Config, negotiate bool) (kinds []string, aggregated bool, err error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, false, err
	}
	r, err := newRESTMapper(cfg, hc)
	if err != nil {
		return nil, false, err
	}
	d, err := r.discover(ctx, negotiate)
	if err != nil {
		return nil, false, err
	}
	for gk, versions := range d.kinds {
		for _, v := range versions {
			scope := "cluster"
			if v.namespaced {
				scope = "namespaced"
			}
			kinds = append(kinds, fmt.Sprintf("%s %s %s %s", gk, v.version, v.resource, scope))
		}
	}
	sort.Strings(kinds)
	return kinds, d.aggregated, nil
}

// RESTMapping exposes the Manager's mapper to tests.
func (m *Manager) RESTMapping(ctx context.Context, gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	return m.mapper.RESTMapping(ctx, gk, versions...)
}
