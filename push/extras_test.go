package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

// layerOf returns the manifest and the entries of the single layer of the
// artifact desc names in store.
func layerOf(t *testing.T, store *memory.Store, desc ocispec.Descriptor) (ocispec.Manifest, map[string]string) {
	t.Helper()
	ctx := context.Background()
	data, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	layer, err := content.FetchAll(ctx, store, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range readLayer(t, layer) {
		files[e.hdr.Name] = e.data
	}
	return m, files
}

func names(files map[string]string) string {
	var out []string
	for n := range files {
		out = append(out, n)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestPackIgnore(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"app/deploy.yaml": "a", "app/README.md": "b", "docs/x.yaml": "c", "tmp/y.yaml": "d",
		"app/tmp/z.yaml": "e", "notes.md": "f", ".github/ci.yaml": "g", "ok.yaml": "h",
	})
	tests := map[string]struct {
		ignore []string
		want   string
	}{
		"none":                {nil, ". .github .github/ci.yaml app app/README.md app/deploy.yaml app/tmp app/tmp/z.yaml docs docs/x.yaml notes.md ok.yaml tmp tmp/y.yaml"},
		"base name anywhere":  {[]string{"*.md"}, ". .github .github/ci.yaml app app/deploy.yaml app/tmp app/tmp/z.yaml docs docs/x.yaml ok.yaml tmp tmp/y.yaml"},
		"anchored":            {[]string{"/tmp"}, ". .github .github/ci.yaml app app/README.md app/deploy.yaml app/tmp app/tmp/z.yaml docs docs/x.yaml notes.md ok.yaml"},
		"directory anywhere":  {[]string{"tmp/"}, ". .github .github/ci.yaml app app/README.md app/deploy.yaml docs docs/x.yaml notes.md ok.yaml"},
		"double star":         {[]string{"**/tmp", "docs/*.yaml"}, ". .github .github/ci.yaml app app/README.md app/deploy.yaml docs notes.md ok.yaml"},
		"comments and blanks": {[]string{"# x", "", ".github/", "app/*.md"}, ". app app/deploy.yaml app/tmp app/tmp/z.yaml docs docs/x.yaml notes.md ok.yaml tmp tmp/y.yaml"},
		"dir-only skips file": {[]string{"ok.yaml/"}, ". .github .github/ci.yaml app app/README.md app/deploy.yaml app/tmp app/tmp/z.yaml docs docs/x.yaml notes.md ok.yaml tmp tmp/y.yaml"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			desc, store := pack(t, dir, push.Options{Ignore: tc.ignore})
			_, files := layerOf(t, store, desc)
			if got := names(files); got != tc.want {
				t.Errorf("packed\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"!keep.yaml", "a/**/b", "**/a/b", "[", "/"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := push.Pack(context.Background(), dir, push.Options{Ignore: []string{bad}}, memory.New()); err == nil || !strings.Contains(err.Error(), bad) {
				t.Errorf("Pack with ignore %q: %v", bad, err)
			}
		})
	}
}

func TestPackKustomize(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"kustomization.yaml": "namePrefix: prod-\nresources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n",
		"unused.yaml":        "not: referenced\n",
	})
	desc, store := pack(t, dir, push.Options{Kustomize: true})
	_, files := layerOf(t, store, desc)
	if got := names(files); got != ". "+push.RenderedFile {
		t.Fatalf("packed %s", got)
	}
	if out := files[push.RenderedFile]; !strings.Contains(out, "name: prod-settings") || strings.Contains(out, "referenced") {
		t.Errorf("rendered:\n%s", out)
	}
	again, _ := pack(t, copyTree(t, dir), push.Options{Kustomize: true})
	if again.Digest != desc.Digest {
		t.Errorf("kustomize packing is not reproducible: %s != %s", again.Digest, desc.Digest)
	}

	for name, tc := range map[string]struct {
		files map[string]string
		want  error
	}{
		"no kustomization": {map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"}, fs.ErrNotExist},
		"remote base":      {map[string]string{"kustomization.yaml": "resources: [https://example.com/base.yaml]\n"}, errdef.ErrUnsupportedMediaType},
		"outside the root": {map[string]string{"kustomization.yaml": "resources: [../other]\n"}, errdef.ErrUnsupportedMediaType},
		"empty build":      {map[string]string{"kustomization.yaml": "resources: []\n"}, errdef.ErrInvalidObject},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := push.Pack(context.Background(), writeTree(t, tc.files), push.Options{Kustomize: true}, memory.New())
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := push.Pack(context.Background(), dir, push.Options{Kustomize: true, Ignore: []string{"*.md"}}, memory.New()); err == nil || !strings.Contains(err.Error(), "ignore patterns do not apply to a kustomization") {
		t.Errorf("Kustomize with Ignore: err = %v, want the refusal of ignore patterns", err)
	}
}

func TestPackOCILayer(t *testing.T) {
	dir := writeTree(t, map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	desc, store := pack(t, dir, push.Options{LayerMediaType: push.MediaTypeOCILayer})
	m, _ := layerOf(t, store, desc)
	if m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("layer media type %s", m.Layers[0].MediaType)
	}
	flux, _ := pack(t, dir, push.Options{})
	if flux.Digest == desc.Digest {
		t.Error("the layer media type does not change the manifest digest")
	}
	if err := store.Tag(context.Background(), desc, desc.Digest.String()); err != nil {
		t.Fatal(err)
	}
	if err := render.Extract(context.Background(), store, desc, t.TempDir()+"/out", render.ExtractOptions{}); err != nil {
		t.Errorf("pull cannot read the OCI layer: %v", err)
	}
}

func TestPushSkipsExistingBlobs(t *testing.T) {
	uploads := registrytest.NewFaults(func(r *http.Request) bool {
		return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/")
	})
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: uploads.Wrap})
	_, repo := reg.Repository(t, "team/app", "v1")
	dir := writeTree(t, map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	first, err := push.Push(context.Background(), dir, repo, "v1", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(uploads.Arrivals()); n != 2 {
		t.Fatalf("first push started %d uploads, want 2 (layer and config)", n)
	}
	uploads.Inject()
	again, err := push.Push(context.Background(), copyTree(t, dir), repo, "v2", push.Options{})
	if err != nil || again.Digest != first.Digest {
		t.Fatalf("second push: %v, %v", again.Digest, err)
	}
	if n := len(uploads.Arrivals()); n != 0 {
		t.Errorf("re-pushing unchanged content started %d uploads", n)
	}
}

// A registry gets the manifest by tag in one PUT: no existence check, no
// push by digest followed by a tag round trip.
func TestPushSendsManifestOnceByTag(t *testing.T) {
	manifests := registrytest.NewFaults(func(r *http.Request) bool {
		return strings.Contains(r.URL.Path, "/manifests/")
	})
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: manifests.Wrap})
	_, repo := reg.Repository(t, "team/app", "v1")
	dir := writeTree(t, map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	desc, err := push.Push(context.Background(), dir, repo, "v1", push.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(manifests.Arrivals()); n != 1 {
		t.Errorf("push made %d manifest requests, want 1", n)
	}
	got, err := repo.Resolve(context.Background(), "v1")
	if err != nil || got.Digest != desc.Digest {
		t.Errorf("tag v1 resolves to %v (%v), want %s", got.Digest, err, desc.Digest)
	}
}
