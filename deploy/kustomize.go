package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// MaxKustomizeInputBytes caps the bytes copied into memory for one kustomize
// build (256 MiB, the size of the largest layer sealift accepts: an artifact
// cannot legitimately hold more).
const MaxKustomizeInputBytes = limits.MaxLayerBytes

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isKustomizationName(name string) bool {
	for _, k := range kustomizationNames {
		if name == k {
			return true
		}
	}
	return false
}

// findKustomization returns the kustomization file name in dir, or "".
func findKustomization(r *os.Root, dir string) (string, error) {
	for _, name := range kustomizationNames {
		_, err := r.Lstat(path.Join(dir, name))
		if err == nil {
			return name, nil
		}
		if !os.IsNotExist(err) {
			return "", fmt.Errorf("%s: %w", path.Join(dir, name), pathError(err))
		}
	}
	return "", nil
}

// renderKustomization builds the kustomization in dir. The whole root is
// copied into an in-memory filesystem first, so the build can reach sibling
// bases inside the artifact but nothing outside it; plugins and Helm are off
// and every kustomization is checked for remote references beforehand.
func renderKustomization(ctx context.Context, r *os.Root, dir string, maxBytes int64) ([]*unstructured.Unstructured, error) {
	mem, kustomizations, err := copyToMemory(ctx, r, maxBytes)
	if err != nil {
		return nil, err
	}
	for _, k := range kustomizations {
		if err := checkLocalOnly(mem, k); err != nil {
			return nil, err
		}
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	resMap, err := krusty.MakeKustomizer(opts).Run(mem, "/"+dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w: %w", dir, errdef.ErrInvalidObject, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	if int64(len(out)) > maxBytes {
		return nil, fmt.Errorf("kustomize build %s: %w: output is %d bytes, limit %d", dir, errdef.ErrSizeExceedsLimit, len(out), maxBytes)
	}
	got, err := decodeDocuments("kustomize build "+dir, out)
	if err != nil {
		return nil, err
	}
	seen := map[objectKey]string{}
	objs := make([]*unstructured.Unstructured, 0, len(got.objs))
	for _, o := range got.objs {
		if err := checkDuplicate(seen, o.obj, o.where); err != nil {
			return nil, err
		}
		objs = append(objs, o.obj)
	}
	return objs, nil
}

// copyToMemory copies every regular file under the root (following symlinks
// that stay inside it) into an in-memory filesystem, and lists the
// kustomization files found.
func copyToMemory(ctx context.Context, r *os.Root, maxBytes int64) (filesys.FileSystem, []string, error) {
	mem := filesys.MakeFsInMemory()
	var (
		total, files   int64
		kustomizations []string
	)
	err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathError(err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := r.Stat(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, pathError(err))
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%w: %s is a symlink to something other than a regular file", errdef.ErrUnsafePath, p)
			}
		} else if !d.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file", errdef.ErrUnsafePath, p)
		}
		if files++; files > limits.MaxExtractFiles {
			return fmt.Errorf("%w: more than %d files", errdef.ErrSizeExceedsLimit, limits.MaxExtractFiles)
		}
		data, err := readCapped(r, p, maxBytes)
		if err != nil {
			return err
		}
		if total += int64(len(data)); total > MaxKustomizeInputBytes {
			return fmt.Errorf("%w: kustomize input exceeds %d bytes", errdef.ErrSizeExceedsLimit, MaxKustomizeInputBytes)
		}
		if err := mem.WriteFile("/"+p, data); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if isKustomizationName(d.Name()) {
			kustomizations = append(kustomizations, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mem, kustomizations, nil
}

// checkLocalOnly refuses a kustomization that could make the build reach the
// network or run programs: remote bases (git clones), remote files (HTTP
// fetches) and Helm charts. Entries kustomize may resolve as a base must name
// a file or directory inside the artifact.
func checkLocalOnly(mem filesys.FileSystem, file string) error {
	data, err := mem.ReadFile("/" + file)
	if err != nil {
		return err
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %w: %w", file, errdef.ErrInvalidObject, err)
	}
	dir := path.Dir("/" + file)
	refuse := func(field, entry, why string) error {
		return fmt.Errorf("%s: %s entry %q: %w: %s", file, field, entry, errdef.ErrUnsupportedMediaType, why)
	}
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil || len(k.HelmChartInflationGenerator) > 0 {
		return refuse("helmCharts", "", "Helm charts are not supported; render them before pushing")
	}
	// Entries kustomize may load as a base (and so clone from git).
	bases := map[string][]string{
		"resources": k.Resources, "bases": k.Bases, "components": k.Components,
		"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators,
	}
	for _, field := range []string{"resources", "bases", "components", "generators", "transformers", "validators"} {
		for _, e := range bases[field] {
			if strings.Contains(e, "\n") {
				continue // an inline configuration, not a path
			}
			p := e
			if !path.IsAbs(p) {
				p = path.Join(dir, p)
			}
			if !mem.Exists(p) {
				return refuse(field, e, "not a file or directory in the artifact (remote bases are not supported)")
			}
		}
	}
	// Entries kustomize loads as files (and so may fetch over HTTP).
	files := append([]string{}, k.Crds...)
	files = append(files, k.Configurations...)
	files = append(files, k.OpenAPI["path"])
	for _, p := range k.Patches {
		files = append(files, p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		files = append(files, p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		files = append(files, string(p))
	}
	for _, rf := range k.Replacements {
		files = append(files, rf.Path)
	}
	kvs := make([]types.KvPairSources, 0, len(k.ConfigMapGenerator)+len(k.SecretGenerator))
	for _, g := range k.ConfigMapGenerator {
		kvs = append(kvs, g.KvPairSources)
	}
	for _, g := range k.SecretGenerator {
		kvs = append(kvs, g.KvPairSources)
	}
	for _, kv := range kvs {
		for _, f := range kv.FileSources {
			if _, v, ok := strings.Cut(f, "="); ok {
				f = v
			}
			files = append(files, f)
		}
		files = append(files, kv.EnvSources...)
		files = append(files, kv.EnvSource)
	}
	for _, f := range files {
		if isRemoteURL(f) {
			return refuse("file", f, "remote files are not supported")
		}
	}
	return nil
}

func isRemoteURL(s string) bool {
	u, err := url.ParseRequestURI(strings.TrimSpace(s))
	return err == nil && u.Scheme != "" && u.Scheme != "file"
}
