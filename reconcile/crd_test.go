package reconcile_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// installCRD applies the generated config/crd to the test API server and
// waits until it is established.
func installCRD(t *testing.T) {
	t.Helper()
	if err := env.InstallCRDs("../config/crd"); err != nil {
		t.Fatal(err)
	}
}

// TestSyncCRDSchema: the generated CRD installs on a real API server, a
// Sync built from the Go types (every new field set) is a valid object of
// it, and the schema's markers refuse what Validate refuses — the CEL rule
// on ref first of all.
func TestSyncCRDSchema(t *testing.T) {
	installCRD(t)
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	syncs := dyn.Resource(sealiftv1.GroupVersion.WithResource("syncs")).Namespace("default")
	digest := "sha256:" + strings.Repeat("ab", 32)

	full := func(name string) *sealiftv1.Sync {
		s := &sealiftv1.Sync{
			TypeMeta:   metav1.TypeMeta{APIVersion: sealiftv1.APIVersion, Kind: sealiftv1.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		}
		s.Spec.Source.URL = "oci://registry.example/apps/app"
		s.Spec.Source.Ref = &sealiftv1.Ref{Tag: "1.0.0"}
		s.Spec.Source.Mirrors = []sealiftv1.Mirror{{URL: "oci://mirror.internal/apps/app", Insecure: true}}
		s.Spec.Verify = sealiftv1.Verify{
			Mode: sealiftv1.VerifyEnforce, Threshold: 1,
			Keys:         []sealiftv1.Key{{PEM: "-----BEGIN PUBLIC KEY-----"}},
			Identities:   []sealiftv1.Identity{{Issuer: "https://issuer.example", Subject: "ci@example.com"}},
			Repositories: []string{"registry.example/apps/app"},
		}
		s.Spec.AllowClusterScoped = true
		s.Spec.Adopt = sealiftv1.AdoptNever
		s.Spec.Drift = sealiftv1.DriftDetect
		s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{Name: "base"}}
		s.Spec.Interval = &metav1.Duration{Duration: 10 * time.Minute}
		s.Spec.RetryInterval = &metav1.Duration{Duration: time.Minute}
		s.Spec.Timeout = &metav1.Duration{Duration: 90 * time.Second}
		s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxDeletes: 5, MaxPercent: -1}
		return s
	}
	tests := []struct {
		name   string
		change func(s *sealiftv1.Sync)
		// refused is a fragment of the API server's message; empty means accepted.
		refused string
	}{
		{"every field", func(s *sealiftv1.Sync) {}, ""},
		{"digest ref", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Digest: digest} }, ""},
		{"no ref", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = nil }, ""},
		{"empty ref", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{} }, "set exactly one of tag, semver and digest"},
		{"tag and digest", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.Digest = digest }, "set exactly one of tag, semver and digest"},
		{"tag and semver", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.Semver = "^1" }, "set exactly one of tag, semver and digest"},
		{"filter alone", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{SemverFilter: "^v"} }, "set exactly one of tag, semver and digest"},
		{"short digest", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Digest: "sha256:00"} }, "spec.source.ref.digest"},
		{"url without scheme", func(s *sealiftv1.Sync) { s.Spec.Source.URL = "registry.example/apps/app" }, "spec.source.url"},
		{"mirror without scheme", func(s *sealiftv1.Sync) { s.Spec.Source.Mirrors[0].URL = "https://m/x" }, "spec.source.mirrors[0].url"},
		{"bad mode", func(s *sealiftv1.Sync) { s.Spec.Verify.Mode = "maybe" }, "spec.verify.mode"},
		{"bad drift", func(s *sealiftv1.Sync) { s.Spec.Drift = "fix" }, "spec.drift"},
		{"bad adopt", func(s *sealiftv1.Sync) { s.Spec.Adopt = "always" }, "spec.adopt"},
		{"negative threshold", func(s *sealiftv1.Sync) { s.Spec.Verify.Threshold = -1 }, "spec.verify.threshold"},
		{"key with two sources", func(s *sealiftv1.Sync) { s.Spec.Verify.Keys[0].Path = "k.pub" }, "set exactly one of path, pem and secretRef"},
		{"prune budget over 100%", func(s *sealiftv1.Sync) { s.Spec.PruneBudget.MaxPercent = 150 }, "spec.pruneBudget.maxPercent"},
	}
	t.Run("printer columns, short name and status subresource", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		if err != nil {
			t.Fatal(err)
		}
		list, err := dc.ServerResourcesForGroupVersion(sealiftv1.GroupVersion.String())
		if err != nil {
			t.Fatal(err)
		}
		var shortNames []string
		status := false
		for _, r := range list.APIResources {
			switch r.Name {
			case "syncs":
				shortNames = r.ShortNames
			case "syncs/status":
				status = true
			}
		}
		if !slices.Equal(shortNames, []string{"sls"}) || !status {
			t.Errorf("short names %v, status subresource %v: want [sls] and true", shortNames, status)
		}

		cfg := rest.CopyConfig(env.Config)
		cfg.GroupVersion = &sealiftv1.GroupVersion
		cfg.APIPath = "/apis"
		cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
		rc, err := rest.RESTClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rc.Get().Namespace("default").Resource("syncs").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var table metav1.Table
		if err := json.Unmarshal(raw, &table); err != nil {
			t.Fatalf("table: %v\n%s", err, raw)
		}
		var columns []string
		for _, c := range table.ColumnDefinitions {
			columns = append(columns, c.Name)
		}
		if want := []string{"Name", "Ready", "Status", "Revision", "Signer", "Age"}; !slices.Equal(columns, want) {
			t.Errorf("printer columns %v, want %v", columns, want)
		}
	})

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := full("schema-" + string(rune('a'+i)))
			tc.change(s)
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
			if err != nil {
				t.Fatal(err)
			}
			delete(obj, "status")
			_, err = syncs.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("API server refused a valid Sync: %v", err)
				}
				if verr := s.Validate(); verr != nil {
					t.Errorf("the API server accepted it but Validate refuses it: %v", verr)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("err = %v, want Invalid", err)
			}
			if !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("err %q does not mention %q", err, tc.refused)
			}
			if verr := s.Validate(); verr == nil {
				t.Errorf("the API server refuses it but Validate accepts it")
			}
		})
	}
}
