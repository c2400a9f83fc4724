package render_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/render"
)

const clusterRoleBinding = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: pwned
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
`

const localCM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: ns\n"

// countingServer is a real HTTP server that serves a ClusterRoleBinding to
// any request (and a strategic-merge patch of it) and counts the requests.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(clusterRoleBinding))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestAttackKustomizeGitUploadPack: a resources entry holding a newline was
// skipped as "inline configuration", and kustomize took it for a git URL:
// `git fetch --depth=1 file:///x --upload-pack=<command>` ran the command.
func TestAttackKustomizeGitUploadPack(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	entries := map[string]string{
		"resources newline":  "file:///x?ref=--upload-pack=touch%20" + pwned + "\n",
		"resources carriage": "file:///x?ref=--upload-pack=touch%20" + pwned + "\r",
		"resources plain":    "file:///x?ref=--upload-pack=touch%20" + pwned,
		"components":         "file:///x?ref=--upload-pack=touch%20" + pwned + "\n",
		"generators":         "file:///x?ref=--upload-pack=touch%20" + pwned + "\n",
		"transformers":       "file:///x?ref=--upload-pack=touch%20" + pwned + "\n",
		"validators":         "file:///x?ref=--upload-pack=touch%20" + pwned + "\n",
	}
	for name, entry := range entries {
		t.Run(name, func(t *testing.T) {
			field, _, _ := strings.Cut(name, " ")
			k := fmt.Sprintf("resources: [cm.yaml]\n%s:\n- %s\n", field, strconv.Quote(entry))
			if field == "resources" {
				k = fmt.Sprintf("resources:\n- cm.yaml\n- %s\n", strconv.Quote(entry))
			}
			root := writeTree(t, map[string]string{"kustomization.yaml": k, "cm.yaml": localCM})
			_, err := render.Render(context.Background(), root, render.Options{})
			if _, serr := os.Stat(pwned); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("the entry ran a command: %s exists (%v)", pwned, serr)
			}
			if !errors.Is(err, errdef.ErrUnsupportedMediaType) {
				t.Fatalf("err = %v, want %v", err, errdef.ErrUnsupportedMediaType)
			}
			if !strings.Contains(err.Error(), strconv.Quote(entry)) {
				t.Errorf("error %q does not name the entry %q", err, entry)
			}
		})
	}
}

// TestAttackKustomizeDoubleSlashDecoy: the old check joined the entry to its
// directory with path.Join, which collapses "//", so a decoy directory
// http:/host:port/org/extra.yaml/ made http://host:port/org/extra.yaml pass,
// and kustomize downloaded it. A real server must see no request.
func TestAttackKustomizeDoubleSlashDecoy(t *testing.T) {
	srv, hits := countingServer(t)
	url := srv.URL + "/org/extra.yaml"
	decoy := strings.Replace(url, "://", ":/", 1)
	root := writeTree(t, map[string]string{
		"kustomization.yaml":   "resources:\n- cm.yaml\n- " + url + "\n",
		"cm.yaml":              localCM,
		decoy + "/placeholder": "decoy",
	})
	_, err := render.Render(context.Background(), root, render.Options{})
	if n := hits.Load(); n != 0 {
		t.Fatalf("the build made %d requests to %s", n, srv.URL)
	}
	if !errors.Is(err, errdef.ErrUnsupportedMediaType) {
		t.Fatalf("err = %v, want %v", err, errdef.ErrUnsupportedMediaType)
	}
	if !strings.Contains(err.Error(), strconv.Quote(url)) {
		t.Errorf("error %q does not name %q", err, url)
	}
}

// TestAttackKustomizeRemoteEntries lists the forms kustomize fetches (or
// clones) from and the places it reads them: each is refused before the
// build, naming the entry, and the server sees nothing.
func TestAttackKustomizeRemoteEntries(t *testing.T) {
	srv, hits := countingServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	patchT := "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: %s\n"
	tests := map[string]struct {
		files map[string]string
		entry string
	}{
		"http resource":            {entry: srv.URL + "/a.yaml", files: map[string]string{"kustomization.yaml": "resources:\n- " + srv.URL + "/a.yaml\n"}},
		"upper-case scheme":        {entry: "HTTP://" + host + "/a.yaml", files: map[string]string{"kustomization.yaml": "resources:\n- HTTP://" + host + "/a.yaml\n"}},
		"https base in bases":      {entry: "https://" + host + "/org/repo", files: map[string]string{"kustomization.yaml": "bases:\n- https://" + host + "/org/repo\n"}},
		"git:: prefix":             {entry: "git::" + srv.URL + "/org/repo", files: map[string]string{"kustomization.yaml": "resources:\n- git::" + srv.URL + "/org/repo\n"}},
		"ssh scheme":               {entry: "ssh://git@" + host + "/org/repo", files: map[string]string{"kustomization.yaml": "resources:\n- ssh://git@" + host + "/org/repo\n"}},
		"scp form":                 {entry: "git@127.0.0.1:org/repo", files: map[string]string{"kustomization.yaml": "resources:\n- git@127.0.0.1:org/repo\n"}},
		"github shorthand":         {entry: "github.com/org/repo", files: map[string]string{"kustomization.yaml": "resources:\n- github.com/org/repo\n", "github.com/org/repo/kustomization.yaml": "resources: []\n"}},
		"query on a local-looking": {entry: "base?ref=main", files: map[string]string{"kustomization.yaml": "resources:\n- base?ref=main\n"}},
		"double slash":             {entry: "base//sub", files: map[string]string{"kustomization.yaml": "resources:\n- base//sub\n", "base/sub/kustomization.yaml": "resources: []\n"}},
		"tab":                      {entry: "cm.yaml\t", files: map[string]string{"kustomization.yaml": "resources:\n- \"cm.yaml\\t\"\n"}},
		"component":                {entry: srv.URL + "/c", files: map[string]string{"kustomization.yaml": "components:\n- " + srv.URL + "/c\n"}},
		"patch path":               {entry: srv.URL + "/p.yaml", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: " + srv.URL + "/p.yaml\n"}},
		"strategic merge path":     {entry: srv.URL + "/p.yaml", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatchesStrategicMerge:\n- " + srv.URL + "/p.yaml\n"}},
		"crds":                     {entry: srv.URL + "/crd.yaml", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\ncrds:\n- " + srv.URL + "/crd.yaml\n"}},
		"openapi":                  {entry: srv.URL + "/schema.json", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nopenapi:\n  path: " + srv.URL + "/schema.json\n"}},
		"generator file":           {entry: "k=" + srv.URL + "/f", files: map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: c\n  files:\n  - k=" + srv.URL + "/f\n"}},
		"generator env":            {entry: srv.URL + "/env", files: map[string]string{"kustomization.yaml": "secretGenerator:\n- name: c\n  env: " + srv.URL + "/env\n"}},
		"replacement path":         {entry: srv.URL + "/r.yaml", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nreplacements:\n- path: " + srv.URL + "/r.yaml\n"}},
		"builtin transformer file": {entry: srv.URL + "/p.yaml", files: map[string]string{"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [t.yaml]\n", "t.yaml": fmt.Sprintf(patchT, srv.URL+"/p.yaml")}},
		"inline builtin transformer": {entry: srv.URL + "/p.yaml", files: map[string]string{
			"kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- |\n  " + strings.ReplaceAll(strings.TrimSpace(fmt.Sprintf(patchT, srv.URL+"/p.yaml")), "\n", "\n  ") + "\n",
		}},
		"nested base": {entry: srv.URL + "/a.yaml", files: map[string]string{
			"kustomization.yaml":      "resources: [base]\n",
			"base/kustomization.yaml": "resources:\n- " + srv.URL + "/a.yaml\n",
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{"cm.yaml": localCM}
			for k, v := range tc.files {
				files[k] = v
			}
			root := writeTree(t, files)
			before := hits.Load()
			_, err := render.Render(context.Background(), root, render.Options{})
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the build made %d requests to %s", n, srv.URL)
			}
			if !errors.Is(err, errdef.ErrUnsupportedMediaType) {
				t.Fatalf("err = %v, want %v", err, errdef.ErrUnsupportedMediaType)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tc.entry)) {
				t.Errorf("error %q does not name %q", err, tc.entry)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the builds made %d requests to %s", n, srv.URL)
	}
}

// billionLaughs is 415 bytes that expand to 10^9 strings.
const billionLaughs = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

// TestAttackKustomizeYAMLBomb: files handed to kustomize were expanded
// without alias limits (a 415-byte file used 7.6 GB). Each must fail fast,
// with ErrSizeExceedsLimit, using little memory.
func TestAttackKustomizeYAMLBomb(t *testing.T) {
	cmBomb := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol, namespace: ns}\ndata:\n  x: y\n" + "lols:\n  " + strings.ReplaceAll(strings.TrimSpace(billionLaughs), "\n", "\n  ") + "\n"
	indent := func(s string) string { return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") }
	tests := map[string]map[string]string{
		"resource file":            {"kustomization.yaml": "resources: [bomb.yaml]\n", "bomb.yaml": cmBomb},
		"file not listed anywhere": {"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": localCM, "other/bomb.yaml": cmBomb},
		"kustomization itself":     {"kustomization.yaml": "resources: [cm.yaml]\n" + billionLaughs, "cm.yaml": localCM},
		"inline patch":             {"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- patch: |\n" + indent(cmBomb) + "\n", "cm.yaml": localCM},
		"inline generator":         {"kustomization.yaml": "generators:\n- |\n" + indent("apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: g}\n"+billionLaughs) + "\n"},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, files)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := render.Render(ctx, root, render.Options{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("err = %v, want %v", err, errdef.ErrSizeExceedsLimit)
			}
			if !strings.Contains(err.Error(), "aliases") {
				t.Errorf("error %q does not say aliases are the cause", err)
			}
			// The whole expansion is gigabytes; refusing it takes little.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
				t.Errorf("allocated %d MiB refusing a bomb", alloc>>20)
			}
		})
	}
}

// TestRenderRootKustomization: a kustomization at the artifact's root was
// built at "/.", which kustomize's in-memory filesystem does not have.
func TestRenderRootKustomization(t *testing.T) {
	root := writeTree(t, map[string]string{
		"kustomization.yaml":      "namePrefix: root-\nresources:\n- cm.yaml\n- base\n",
		"cm.yaml":                 localCM,
		"base/kustomization.yaml": "resources: [b.yaml]\n",
		"base/b.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: ns\n",
	})
	for _, p := range []string{"", ".", "./"} {
		objs, err := render.Render(context.Background(), root, render.Options{Path: p})
		if err != nil {
			t.Fatalf("path %q: %v", p, err)
		}
		if got := strings.Join(ids(objs), ","); got != "ConfigMap/ns/root-app,ConfigMap/ns/root-b" {
			t.Errorf("path %q: objects %s", p, got)
		}
	}
}

// TestRenderKustomizationLocalForms: plain local entries keep working,
// including an inline patch, an inline builtin transformer and a generator
// with key=path.
func TestRenderKustomizationLocalForms(t *testing.T) {
	root := writeTree(t, map[string]string{
		"kustomization.yaml": `resources:
- ./cm.yaml
patches:
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: app, namespace: ns}
    data: {patched: "yes"}
patchesStrategicMerge:
- |
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: app, namespace: ns}
  data: {psm: "yes"}
transformers:
- |
  apiVersion: builtin
  kind: LabelTransformer
  metadata: {name: l}
  labels: {team: a}
  fieldSpecs: [{path: metadata/labels, create: true}]
configMapGenerator:
- name: gen
  namespace: ns
  files: [conf=app.properties]
generatorOptions: {disableNameSuffixHash: true}
`,
		"cm.yaml":        localCM,
		"app.properties": "a=b\n",
	})
	objs, err := render.Render(context.Background(), root, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(objs), ","); got != "ConfigMap/ns/app,ConfigMap/ns/gen" {
		t.Fatalf("objects %s", got)
	}
	data := objs[0].Object["data"].(map[string]any)
	if data["patched"] != "yes" || data["psm"] != "yes" || objs[0].GetLabels()["team"] != "a" {
		t.Errorf("app = %v", objs[0].Object)
	}
}
