package render_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/render"
)

// writeTree creates files (path -> content) under a new temporary root.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func ids(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = objectID(o)
	}
	return out
}

// objectID is deploy.ObjectID's form: Kind/namespace/name or Kind/name.
func objectID(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return o.GetKind() + "/" + ns + "/" + o.GetName()
	}
	return o.GetKind() + "/" + o.GetName()
}

const cmA = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n"

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		opts    render.Options
		want    []string // object IDs in order
		wantErr error
		errHas  []string // substrings the error must name
	}{
		{
			name: "multi-document, empty documents and comments skipped",
			files: map[string]string{"all.yaml": "---\n# leading comment\n---\n" + cmA +
				"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n---\n"},
			want: []string{"ConfigMap/ns/a", "Namespace/ns"},
		},
		{
			name: "files sorted, recursive, yml and json, hidden dirs and other files skipped",
			files: map[string]string{
				"b/z.yml":         "apiVersion: v1\nkind: Secret\nmetadata: {name: z, namespace: ns}\n",
				"a.json":          `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j","namespace":"ns"}}`,
				".git/x.yaml":     "not: [valid",
				"README.md":       "# not a manifest",
				"b/.hidden/y.yml": "not: [valid",
			},
			want: []string{"ConfigMap/ns/j", "Secret/ns/z"},
		},
		{
			name: "List kinds expanded in order",
			files: map[string]string{"list.yaml": `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: one, namespace: ns}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: two, namespace: ns}}
---
apiVersion: v1
kind: ConfigMapList
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: three}}
`},
			want: []string{"ConfigMap/ns/one", "ConfigMap/ns/two", "ConfigMap/three"},
		},
		{
			name:  "sub-path",
			files: map[string]string{"apps/web/cm.yaml": cmA, "other.yaml": "garbage: ["},
			opts:  render.Options{Path: "apps/web"},
			want:  []string{"ConfigMap/ns/a"},
		},
		{
			name:  "target namespace is recorded, not written",
			files: map[string]string{"cm.yaml": cmA},
			opts:  render.Options{TargetNamespace: "elsewhere"},
			want:  []string{"ConfigMap/ns/a"},
		},
		{
			name:    "duplicate across files names both places",
			files:   map[string]string{"a.yaml": cmA, "b.yaml": "---\napiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: ns}\n---\n" + cmA},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"b.yaml: document 2", "duplicate object ConfigMap/ns/a", "a.yaml: document 1"},
		},
		{
			name:  "same name in another group or namespace is no duplicate",
			files: map[string]string{"a.yaml": cmA + "---\napiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n"},
			want:  []string{"ConfigMap/ns/a", "ConfigMap/ns/a", "ConfigMap/other/a"},
		},
		{
			name:    "invalid YAML names file and document",
			files:   map[string]string{"bad.yaml": cmA + "---\nkind: [unclosed\n"},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"bad.yaml: document 2"},
		},
		{
			name:    "duplicate keys refused",
			files:   map[string]string{"dup.yaml": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n"},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"dup.yaml: document 1"},
		},
		{
			name:    "missing apiVersion, kind and name",
			files:   map[string]string{"m.yaml": "metadata: {labels: {a: b}}\n"},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"m.yaml: document 1", "apiVersion", "kind", "metadata.name"},
		},
		{
			name:    "scalar document",
			files:   map[string]string{"s.yaml": "just a string\n"},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"not an object"},
		},
		{
			name:    "bad List item names the item",
			files:   map[string]string{"l.yaml": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: ok}}\n- {apiVersion: v1, kind: ConfigMap}\n"},
			wantErr: errdef.ErrInvalidObject,
			errHas:  []string{"l.yaml: document 1, List item 2", "metadata.name"},
		},
		{
			name:    "file over the size cap",
			files:   map[string]string{"big.yaml": cmA + "#" + strings.Repeat("x", 200) + "\n"},
			opts:    render.Options{MaxFileBytes: 100},
			wantErr: errdef.ErrSizeExceedsLimit,
			errHas:  []string{"big.yaml"},
		},
		{
			name:    "path with dot-dot",
			files:   map[string]string{"cm.yaml": cmA},
			opts:    render.Options{Path: "a/../../etc"},
			wantErr: errdef.ErrUnsafePath,
		},
		{
			name:    "absolute path",
			files:   map[string]string{"cm.yaml": cmA},
			opts:    render.Options{Path: "/etc"},
			wantErr: errdef.ErrUnsafePath,
		},
		{
			name:    "invalid target namespace",
			files:   map[string]string{"cm.yaml": cmA},
			opts:    render.Options{TargetNamespace: "Not_A_Label"},
			wantErr: errdef.ErrInvalidObject,
		},
		{
			name:    "nested kustomization is not guessed at",
			files:   map[string]string{"cm.yaml": cmA, "overlay/kustomization.yaml": "resources: []\n"},
			wantErr: errdef.ErrUnsupportedMediaType,
			errHas:  []string{"overlay/kustomization.yaml"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			objs, err := render.Render(context.Background(), root, tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := ids(objs); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRenderSymlinks(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": cmA, "dir/cm.yaml": cmA})
	tests := []struct {
		name    string
		link    string // link name inside the root
		target  func(root string) string
		opts    render.Options
		want    []string
		wantErr error
	}{
		{
			name:    "absolute link to a file outside",
			link:    "escape.yaml",
			target:  func(string) string { return filepath.Join(outside, "secret.yaml") },
			wantErr: errdef.ErrUnsafePath,
		},
		{
			name: "relative link to a file outside",
			link: "rel.yaml",
			target: func(root string) string {
				rel, err := filepath.Rel(root, filepath.Join(outside, "secret.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				return rel
			},
			wantErr: errdef.ErrUnsafePath,
		},
		{
			name:    "render path through a link outside",
			link:    "sub",
			target:  func(string) string { return filepath.Join(outside, "dir") },
			opts:    render.Options{Path: "sub"},
			wantErr: errdef.ErrUnsafePath,
		},
		{
			name:   "link to a file inside the root is read",
			link:   "alias.yaml",
			target: func(string) string { return ".hidden/cm.yml" },
			want:   []string{"ConfigMap/ns/a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{".hidden/cm.yml": cmA})
			if err := os.Symlink(tc.target(root), filepath.Join(root, tc.link)); err != nil {
				t.Fatal(err)
			}
			objs, err := render.Render(context.Background(), root, tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := ids(objs); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRenderKustomization(t *testing.T) {
	base := map[string]string{
		"base/kustomization.yaml": "resources:\n- cm.yaml\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  k: v\n",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		files   map[string]string
		path    string
		want    []string
		wantErr error
		errHas  string
	}{
		{
			name:  "overlay over a sibling base",
			files: with(map[string]string{"prod/kustomization.yaml": "namespace: prod\nnamePrefix: prod-\nresources:\n- ../base\n"}),
			path:  "prod",
			want:  []string{"ConfigMap/prod/prod-app"},
		},
		{
			name: "generator reads a file inside the artifact",
			files: with(map[string]string{
				"gen/kustomization.yaml": "namespace: g\nconfigMapGenerator:\n- name: conf\n  files:\n  - app.properties\ngeneratorOptions:\n  disableNameSuffixHash: true\n",
				"gen/app.properties":     "a=b\n",
			}),
			path: "gen",
			want: []string{"ConfigMap/g/conf"},
		},
		{
			name:    "remote git base refused",
			files:   with(map[string]string{"r/kustomization.yaml": "resources:\n- github.com/example/repo//deploy?ref=v1\n"}),
			path:    "r",
			wantErr: errdef.ErrUnsupportedMediaType,
			errHas:  "remote bases are not supported",
		},
		{
			name:    "remote file refused",
			files:   with(map[string]string{"r/kustomization.yaml": "resources:\n- ../base\npatches:\n- path: https://example.com/patch.yaml\n"}),
			path:    "r",
			wantErr: errdef.ErrUnsupportedMediaType,
			errHas:  "remote files are not supported",
		},
		{
			name:    "remote base in a nested base refused",
			files:   with(map[string]string{"base/kustomization.yaml": "resources:\n- cm.yaml\n- https://example.com/x.yaml\n", "o/kustomization.yaml": "resources:\n- ../base\n"}),
			path:    "o",
			wantErr: errdef.ErrUnsupportedMediaType,
		},
		{
			name:    "helm refused",
			files:   with(map[string]string{"h/kustomization.yaml": "helmCharts:\n- name: x\n  repo: https://charts.example.com\n"}),
			path:    "h",
			wantErr: errdef.ErrUnsupportedMediaType,
		},
		{
			name:    "broken kustomization",
			files:   with(map[string]string{"b/kustomization.yaml": "resources:\n- bad.yaml\n", "b/bad.yaml": "kind: [unclosed\n"}),
			path:    "b",
			wantErr: errdef.ErrInvalidObject,
			errHas:  "kustomize build b",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			objs, err := render.Render(context.Background(), root, render.Options{Path: tc.path})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not say %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got := ids(objs); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add([]byte(cmA))
	f.Add([]byte("---\n---\n" + cmA + "---\n" + cmA))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- 3\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"}}`))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("metadata: 7\nkind: X\napiVersion: v1\n"))
	f.Add([]byte("apiVersion: a/b/c\nkind: X\nmetadata: {name: n, namespace: 5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "f.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		objs, err := render.Render(context.Background(), root, render.Options{})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("error does not wrap ErrInvalidObject: %v", err)
			}
			return
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				t.Fatalf("object without identity: %v", o.Object)
			}
			_ = o.DeepCopy() // must not panic on any value decoded
		}
	})
}
