package deploy

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A group whose aggregated API is down is listed stale: its kinds are
// unavailable, which is worth retrying and is not "no longer served" (that
// would let prune forget the objects), while other groups map as usual.
func TestStaleGroupIsUnavailableNotUnserved(t *testing.T) {
	const doc = `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[
	  {"metadata":{"name":"metrics.k8s.io"},"versions":[{"version":"v1beta1","freshness":"Stale","resources":[
	    {"resource":"pods","responseKind":{"group":"metrics.k8s.io","version":"v1beta1","kind":"PodMetrics"},"scope":"Namespaced","verbs":["get"]}]}]},
	  {"metadata":{"name":"apps"},"versions":[
	    {"version":"v1","resources":[
	      {"resource":"deployments","responseKind":{"group":"","version":"","kind":"Deployment"},"scope":"Namespaced","verbs":["get"]},
	      {"resource":"deployments/status","responseKind":{"kind":"Deployment"},"scope":"Namespaced","verbs":["get"]}]},
	    {"version":"v1beta2","resources":[
	      {"resource":"deployments","responseKind":{"kind":"Deployment"},"scope":"Namespaced","verbs":["get"]}]}]}]}`
	d := &discovered{kinds: map[schema.GroupKind][]kindMapping{}, unavailable: map[string]string{}}
	if err := d.addAggregated("/apis", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	r := &restMapper{kinds: d.kinds, unavailable: d.unavailable, loaded: true}
	ctx := context.Background()

	_, err := r.RESTMapping(ctx, schema.GroupKind{Group: "metrics.k8s.io", Kind: "PodMetrics"})
	var unavailable *UnavailableKindError
	if !errors.As(err, &unavailable) || meta.IsNoMatchError(err) {
		t.Fatalf("kind of a stale group: err = %v, want *UnavailableKindError and not a no-match", err)
	}
	mp, err := r.RESTMapping(ctx, schema.GroupKind{Group: "apps", Kind: "Deployment"})
	if err != nil || mp.Resource.Resource != "deployments" || mp.Resource.Version != "v1" {
		t.Errorf("Deployment = %v, %v; want apps/v1 deployments (preferred first, subresources skipped)", mp, err)
	}
	mp, err = r.RESTMapping(ctx, schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1beta2")
	if err != nil || mp.Resource.Version != "v1beta2" {
		t.Errorf("Deployment v1beta2 = %v, %v", mp, err)
	}
	if _, err := r.RESTMapping(ctx, schema.GroupKind{Group: "apps", Kind: "Widget"}); !meta.IsNoMatchError(err) {
		t.Errorf("unserved kind in an available group: err = %v, want a no-match error", err)
	}
	if err := d.addAggregated("/apis", []byte(`{"items":[`)); err == nil {
		t.Error("a truncated discovery document was accepted")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		header  string
		attempt int
		want    string
	}{
		{"2", 1, "2s"},
		{"0", 3, "0s"},
		{"3600", 1, maxDiscoveryRetryWait.String()},
		{"", 1, "200ms"},
		{"soon", 2, "400ms"},
	} {
		if got := retryAfter(tc.header, tc.attempt); got.String() != tc.want {
			t.Errorf("retryAfter(%q, %d) = %s, want %s", tc.header, tc.attempt, got, tc.want)
		}
	}
}
