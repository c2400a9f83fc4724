package deploy

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// DiscoveredKinds reads discovery the way the Manager does — aggregated, or
// the legacy per-group-version documents — and lists every served
// "group/Kind version resource scope", sorted, for tests to compare.
func DiscoveredKinds(ctx context.Context, cfg *rest.Config, aggregated bool) ([]string, error) {
	r, err := newRESTMapper(cfg)
	if err != nil {
		return nil, err
	}
	kinds := map[string][]kindMapping{}
	found, err := r.discoverWith(ctx, aggregated)
	if err != nil {
		return nil, err
	}
	for gk, versions := range found {
		kinds[gk.String()] = versions
	}
	var out []string
	for gk, versions := range kinds {
		for _, v := range versions {
			scope := "cluster"
			if v.namespaced {
				scope = "namespaced"
			}
			out = append(out, fmt.Sprintf("%s %s %s %s", gk, v.version, v.resource, scope))
		}
	}
	sort.Strings(out)
	return out, nil
}

// RESTMapping exposes the Manager's mapper to tests.
func (m *Manager) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	return m.mapper.RESTMapping(gk, versions...)
}
