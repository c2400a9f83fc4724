package render_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/render"
)

var remoteSeeds = []string{
	"cm.yaml", "../base", "./a/b", "file:///x?ref=--upload-pack=touch%20/tmp/pwned\n",
	"http://127.0.0.1:1/org/extra.yaml", "HTTPS://h/o/r", "git::https://h/o/r", "git@github.com:o/r",
	"git@h:o/r.git", "ssh://git@h/o/r", "github.com/o/r//d?ref=v1", "GitHub.com:o/r", "u@h/o/r.git",
	"base?ref=x", "a//b", "a\\b", "a\tb", "x/_git/r", "https://h/o/r.git/p", "file://relative/x",
}

// FuzzRemoteReason: every entry kustomize itself would clone or download is
// refused, and what is accepted holds none of the refused forms.
func FuzzRemoteReason(f *testing.F) {
	for _, s := range remoteSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		why := render.RemoteReason(entry)
		if why != "" {
			return
		}
		if render.KustomizeClones(entry) {
			t.Fatalf("%q accepted, but kustomize clones it", entry)
		}
		if render.KustomizeDownloads(entry) {
			t.Fatalf("%q accepted, but kustomize downloads it", entry)
		}
		if strings.ContainsAny(entry, ":?\\") || strings.Contains(entry, "//") {
			t.Fatalf("%q accepted", entry)
		}
	})
}

// FuzzCheckKustomization: a kustomization the checker accepts holds no entry
// kustomize would clone or download, whatever else it holds.
func FuzzCheckKustomization(f *testing.F) {
	for _, s := range remoteSeeds {
		k := types.Kustomization{Resources: []string{s}, Components: []string{s}, Crds: []string{s}}
		data, err := yamlMarshal(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("resources:\n- \"file:///x?ref=--upload-pack=touch%20/tmp/pwned\\n\"\n"))
	f.Add([]byte("transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: http://h/p.yaml\n"))
	f.Add([]byte("configMapGenerator:\n- name: c\n  files: [k=http://h/f]\n  env: https://h/e\n"))
	f.Add([]byte("helmCharts:\n- name: x\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := render.CheckKustomization("kustomization.yaml", data, func(string) bool { return true }); err != nil {
			return
		}
		var k types.Kustomization
		if err := k.Unmarshal(data); err != nil {
			t.Fatalf("accepted a kustomization kustomize cannot parse: %v", err)
		}
		k.FixKustomization()
		for _, e := range append(append([]string{}, k.Resources...), k.Components...) {
			if render.KustomizeClones(e) || render.KustomizeDownloads(e) {
				t.Fatalf("accepted base entry %q", e)
			}
		}
		files := append(append([]string{}, k.Crds...), k.Configurations...)
		for _, p := range append(k.Patches, k.PatchesJson6902...) {
			files = append(files, p.Path)
		}
		for _, r := range k.Replacements {
			files = append(files, r.Path)
		}
		for _, e := range files {
			if render.KustomizeDownloads(e) {
				t.Fatalf("accepted file entry %q", e)
			}
		}
		if len(k.HelmCharts) > 0 {
			t.Fatal("accepted Helm charts")
		}
	})
}

func yamlMarshal(v any) ([]byte, error) { return sigsyaml.Marshal(v) }
