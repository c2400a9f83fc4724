package deploy_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sealift-dev/sealift/deploy"
)

// The aggregated discovery document and the legacy per-version documents
// describe the same kinds, so servers of either generation map alike.
func TestDiscoveryAggregatedMatchesLegacy(t *testing.T) {
	ctx := context.Background()
	aggregated, wasAggregated, err := deploy.DiscoveredKinds(ctx, env.Config, true)
	if err != nil {
		t.Fatal(err)
	}
	if !wasAggregated {
		t.Fatal("the API server did not answer with aggregated discovery: the aggregated path went untested")
	}
	legacy, wasAggregated, err := deploy.DiscoveredKinds(ctx, env.Config, false)
	if err != nil {
		t.Fatal(err)
	}
	if wasAggregated {
		t.Fatal("plain JSON was answered with aggregated discovery: the legacy path went untested")
	}
	for _, want := range []string{
		"ConfigMap v1 configmaps namespaced",
		"Namespace v1 namespaces cluster",
		"Deployment.apps v1 deployments namespaced",
		"CustomResourceDefinition.apiextensions.k8s.io v1 customresourcedefinitions cluster",
	} {
		if !slices.Contains(aggregated, want) {
			t.Errorf("aggregated discovery lacks %q", want)
		}
	}
	for _, k := range aggregated {
		if strings.Contains(k, "/") {
			t.Errorf("subresource listed as a kind: %q", k)
		}
	}
	if !slices.Equal(aggregated, legacy) {
		t.Errorf("aggregated and legacy discovery differ:\naggregated %d: %v\nlegacy %d: %v", len(aggregated), aggregated, len(legacy), legacy)
	}
}

func TestRESTMappingVersionsAndUnknownKinds(t *testing.T) {
	ctx := context.Background()
	m, err := deploy.NewManager(env.Config, deploy.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := m.RESTMapping(ctx, schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"})
	if err != nil {
		t.Fatal(err)
	}
	if mp.Resource.Version != "v2" || mp.Resource.Resource != "horizontalpodautoscalers" || mp.Scope.Name() != meta.RESTScopeNameNamespace {
		t.Errorf("preferred HPA mapping = %v %s, want autoscaling/v2 horizontalpodautoscalers, namespaced", mp.Resource, mp.Scope.Name())
	}
	mp, err = m.RESTMapping(ctx, schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if mp.Resource.Version != "v1" {
		t.Errorf("HPA mapping asked for v1 = %v", mp.Resource)
	}
	_, err = m.RESTMapping(ctx, schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1beta9")
	if !meta.IsNoMatchError(err) {
		t.Errorf("unserved version: err = %v, want a no-match error", err)
	}
	_, err = m.RESTMapping(ctx, schema.GroupKind{Group: "example.com", Kind: "Widget"})
	if !meta.IsNoMatchError(err) || !strings.Contains(err.Error(), "Widget") {
		t.Errorf("unknown kind: err = %v, want a no-match error naming Widget", err)
	}
}
