package push_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	fluxoci "github.com/fluxcd/pkg/oci"
	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

// Flux's own OCI client (the code behind `flux push artifact` and `flux pull
// artifact`) and sealift read each other's artifacts, against the same
// registry: the tree comes out byte for byte, and Flux sees sealift's
// revision and source annotations.
func TestFluxInterop(t *testing.T) {
	reg := registrytest.Start(t)
	ctx := context.Background()
	flux := fluxoci.NewClient([]crane.Option{crane.Insecure})
	// Both tools leave version-control directories out, so the tree has none.
	tree := writeTree(t, map[string]string{
		"deploy.yaml":              "apiVersion: apps/v1\nkind: Deployment\n",
		"svc.yaml":                 "apiVersion: v1\nkind: Service\n",
		"base/kustomization.yaml":  "resources: [cm.yaml]\n",
		"base/cm.yaml":             "apiVersion: v1\nkind: ConfigMap\n",
		"overlays/prod/patch.yaml": "spec: {replicas: 3}\n",
	})

	t.Run("flux pulls what sealift pushed", func(t *testing.T) {
		ref, repo := reg.Repository(t, "interop/sealift", "v1")
		desc, err := push.Push(ctx, tree, repo, ref.Tag, push.Options{Source: "https://git.example/team/app", Revision: "main@sha1:0123abcd"})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "flux-out")
		meta, err := flux.Pull(ctx, reg.Host+"/interop/sealift:v1", out)
		if err != nil {
			t.Fatalf("flux pull of sealift's artifact: %v", err)
		}
		if want := reg.Host + "/interop/sealift@" + desc.Digest.String(); meta.Digest != want {
			t.Errorf("flux saw digest %s, want %s", meta.Digest, want)
		}
		if meta.Revision != "main@sha1:0123abcd" || meta.Source != "https://git.example/team/app" {
			t.Errorf("flux saw revision %q source %q", meta.Revision, meta.Source)
		}
		sameTree(t, tree, out)
	})

	t.Run("sealift pulls what flux pushed", func(t *testing.T) {
		url := reg.Host + "/interop/flux:v1"
		pushed, err := flux.Push(ctx, url, tree, fluxoci.WithPushMetadata(fluxoci.Metadata{Source: "https://git.example/team/app", Revision: "v1@sha1:feedbeef"}))
		if err != nil {
			t.Fatalf("flux push: %v", err)
		}
		ref, err := pull.ParseReference("oci://" + url)
		if err != nil {
			t.Fatal(err)
		}
		repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		desc, err := pull.Resolve(ctx, repo, ref)
		if err != nil {
			t.Fatal(err)
		}
		if want := reg.Host + "/interop/flux@" + desc.Digest.String(); pushed != want {
			t.Errorf("flux pushed %s, sealift resolved %s", pushed, want)
		}
		out := filepath.Join(t.TempDir(), "sealift-out")
		if err := render.Extract(ctx, repo, desc, out, render.ExtractOptions{}); err != nil {
			t.Fatalf("sealift extract of flux's artifact: %v", err)
		}
		sameTree(t, tree, out)
	})
}

// sameTree fails unless got holds exactly the regular files of want, with
// the same contents.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	files := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			m[filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := files(want), files(got)
	if len(w) == 0 {
		t.Fatal("empty source tree")
	}
	for name, body := range w {
		if g[name] != body {
			t.Errorf("%s: got %q, want %q", name, g[name], body)
		}
	}
	for name := range g {
		if _, ok := w[name]; !ok {
			t.Errorf("unexpected file %s", name)
		}
	}
}
