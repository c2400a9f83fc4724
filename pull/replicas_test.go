package pull_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

func TestMirrors(t *testing.T) {
	ctx := context.Background()
	plain := pull.RemoteOptions{PlainHTTP: true}
	primary := registrytest.Start(t)
	ref, desc := pushTo(t, primary, plain)

	empty := registrytest.Start(t)
	down := registrytest.Start(t)
	down.Close()
	blobGets := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	}
	manifestGets := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256:")
	}
	badBlobs := registrytest.StartWith(t, registrytest.Options{Wrap: registrytest.Corrupt(blobGets)})
	pushTo(t, badBlobs, plain)
	badManifest := registrytest.StartWith(t, registrytest.Options{Wrap: registrytest.Corrupt(manifestGets)})
	packTo(t, badManifest, plain) // tagging would read the corrupted manifest

	repo := func(r *registrytest.Registry) string { return r.Repo("team/app") }
	tests := map[string]struct {
		repos      []*registrytest.Registry
		wantServed *registrytest.Registry
		wantErr    error
		wantName   *registrytest.Registry // named in the error
	}{
		"first serves":               {repos: []*registrytest.Registry{primary, empty}, wantServed: primary},
		"missing, then next":         {repos: []*registrytest.Registry{empty, primary}, wantServed: primary},
		"down, then next":            {repos: []*registrytest.Registry{down, empty, primary}, wantServed: primary},
		"different blob bytes":       {repos: []*registrytest.Registry{empty, badBlobs, primary}, wantErr: errdef.ErrDigestMismatch, wantName: badBlobs},
		"different manifest bytes":   {repos: []*registrytest.Registry{badManifest, primary}, wantErr: errdef.ErrDigestMismatch, wantName: badManifest},
		"missing everywhere":         {repos: []*registrytest.Registry{empty}, wantErr: errdef.ErrNotFound, wantName: empty},
		"missing or down is not 404": {repos: []*registrytest.Registry{empty, down}, wantName: down},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sources, err := newSources(tc.repos...)
			if err != nil {
				t.Fatal(err)
			}
			store := memory.New()
			served, err := pull.FetchFrom(ctx, sources, desc, store, pull.FetchOptions{})
			if tc.wantServed != nil {
				if err != nil {
					t.Fatal(err)
				}
				if served != repo(tc.wantServed) {
					t.Errorf("served by %q, want %q", served, repo(tc.wantServed))
				}
				if ok, err := store.Exists(ctx, desc); !ok || err != nil {
					t.Errorf("manifest not in the store: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("fetch succeeded from %s", served)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (errors.Is(err, errdef.ErrNotFound) || errdef.IsTerminal(err)) {
				t.Errorf("err = %v, want a transient error", err)
			}
			if !strings.Contains(err.Error(), repo(tc.wantName)) {
				t.Errorf("error %q does not name %s", err, repo(tc.wantName))
			}
			var me *pull.ReplicaError
			if tc.wantErr == errdef.ErrDigestMismatch && (!errors.As(err, &me) || me.Replica != repo(tc.wantName)) {
				t.Errorf("error %v is not a ReplicaError for %s", err, repo(tc.wantName))
			}
		})
	}

	t.Run("resolve", func(t *testing.T) {
		sources, err := newSources(down, empty, primary)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pull.ResolveFrom(ctx, sources, ref, pull.ResolveOptions{})
		if err != nil || got.Descriptor.Digest != desc.Digest || got.Replica != repo(primary) || got.AtMirror || got.Tag != ref.Tag {
			t.Fatalf("ResolveFrom = %+v, %v", got, err)
		}
		byDigest := pull.Reference{Digest: desc.Digest.String()}
		if got, err := pull.ResolveFrom(ctx, sources[:2], byDigest, pull.ResolveOptions{}); !strings.Contains(fmt.Sprint(err), repo(empty)) || got.Replica != "" {
			t.Errorf("ResolveFrom without the content = %+v, %v", got, err)
		}
	})
	t.Run("no sources", func(t *testing.T) {
		if _, err := pull.NewReplicas(pull.Endpoint{}, nil, plain); !errors.Is(err, errdef.ErrInvalidReference) {
			t.Errorf("NewReplicas without a canonical repository: err = %v", err)
		}
		if _, err := pull.FetchFrom(ctx, nil, desc, memory.New(), pull.FetchOptions{}); err == nil {
			t.Error("FetchFrom(nil) succeeded")
		}
	})
}

// newSources lists repos' team/app over plain HTTP, the last one canonical.
func newSources(repos ...*registrytest.Registry) ([]pull.Replica, error) {
	mirrors := make([]pull.Endpoint, len(repos)-1)
	for i, r := range repos[:len(repos)-1] {
		mirrors[i] = pull.Endpoint{URL: r.Repo("team/app"), PlainHTTP: true}
	}
	canonical := pull.Endpoint{URL: repos[len(repos)-1].Repo("team/app"), PlainHTTP: true}
	return pull.NewReplicas(canonical, mirrors, pull.RemoteOptions{})
}

// packTo pushes the same artifact as pushTo, untagged.
func packTo(t *testing.T, reg *registrytest.Registry, opts pull.RemoteOptions) {
	t.Helper()
	repo, err := pull.NewRepository(pull.Reference{Registry: reg.Host, Repository: "team/app"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := writeFiles(t, map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	if _, err := push.Pack(context.Background(), src, push.Options{}, repo); err != nil {
		t.Fatal(err)
	}
}

func ExampleFetchFrom() {
	ctx := context.Background()
	// Mirrors first, the canonical repository last: the first that has the
	// digest serves it. Tags are resolved at the canonical one.
	sources, err := pull.NewReplicas(
		pull.Endpoint{URL: "oci://registry.example.com/team/app"},
		[]pull.Endpoint{{URL: "oci://mirror.example.com/team/app"}},
		pull.RemoteOptions{})
	if err != nil {
		panic(err)
	}
	for _, s := range sources {
		fmt.Println(s.Name, s.Canonical)
	}
	// With a descriptor from ResolveFrom:
	//   served, err := pull.FetchFrom(ctx, sources, desc, store, pull.FetchOptions{})
	_ = ctx
	// Output:
	// mirror.example.com/team/app false
	// registry.example.com/team/app true
}
