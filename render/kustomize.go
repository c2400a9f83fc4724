package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/object"
)

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
// bases inside the artifact but nothing outside it. Every file is checked
// for YAML alias bombs and every kustomization and builtin plugin
// configuration for entries kustomize would fetch (see checkKustomization)
// before kustomize reads anything; plugins and Helm are off.
func renderKustomization(ctx context.Context, r *os.Root, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	mem, kustomizations, err := copyToMemory(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	for _, k := range kustomizations {
		data, err := mem.ReadFile("/" + k)
		if err != nil {
			return nil, err
		}
		if err := checkKustomization(k, data, mem.Exists); err != nil {
			return nil, err
		}
	}
	out, err := build(ctx, mem, dir, opts)
	if err != nil {
		return nil, err
	}
	got, err := decodeDocuments("kustomize build "+dir, out)
	if err != nil {
		return nil, err
	}
	seen := map[object.Key]string{}
	objs := make([]*unstructured.Unstructured, 0, len(got.objs))
	for _, o := range got.objs {
		if err := object.CheckDuplicate(seen, o.obj, o.where); err != nil {
			return nil, err
		}
		objs = append(objs, o.obj)
	}
	return objs, nil
}

// build runs kustomize on dir inside mem, bounded in time
// (limits.MaxKustomizeBuildTime, or sooner when ctx ends) and in output
// (opts.MaxFileBytes). krusty takes no context: a build that overruns is
// abandoned, and its goroutine ends when kustomize returns.
func build(ctx context.Context, mem filesys.FileSystem, dir string, opts Options) ([]byte, error) {
	kopts := krusty.MakeDefaultOptions()
	kopts.LoadRestrictions = types.LoadRestrictionsRootOnly
	kopts.PluginConfig = types.DisabledPluginConfig()
	// A kustomization at the root is built at "/", not "/.", which the
	// in-memory filesystem does not know.
	target := path.Join("/", dir)

	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("kustomize failed: %v", p)}
			}
		}()
		resMap, err := krusty.MakeKustomizer(kopts).Run(mem, target)
		if err != nil {
			done <- result{err: err}
			return
		}
		if n := resMap.Size(); n > opts.MaxFiles*maxObjectsPerFile {
			done <- result{err: fmt.Errorf("%w: %d objects", errdef.ErrSizeExceedsLimit, n)}
			return
		}
		out, err := resMap.AsYaml()
		done <- result{out: out, err: err}
	}()
	timer := time.NewTimer(limits.MaxKustomizeBuildTime)
	defer timer.Stop()
	var res result
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("kustomize build %s: %w", dir, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("kustomize build %s: %w: took longer than %s", dir, errdef.ErrSizeExceedsLimit, limits.MaxKustomizeBuildTime)
	case res = <-done:
	}
	if res.err != nil {
		if errors.Is(res.err, errdef.ErrSizeExceedsLimit) {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, res.err)
		}
		return nil, fmt.Errorf("kustomize build %s: %w: %w", dir, errdef.ErrInvalidObject, res.err)
	}
	if int64(len(res.out)) > opts.MaxFileBytes {
		return nil, fmt.Errorf("kustomize build %s: %w: output is %d bytes, limit %d", dir, errdef.ErrSizeExceedsLimit, len(res.out), opts.MaxFileBytes)
	}
	return res.out, nil
}

// maxObjectsPerFile bounds a build's objects relative to the files it was
// given (opts.MaxFiles of them): overlays that reuse a base many times over
// multiply objects, and past this the build is refused before it is
// serialised.
const maxObjectsPerFile = 10

// copyToMemory copies every regular file under the root (following symlinks
// that stay inside it) into an in-memory filesystem, checking each for YAML
// alias bombs and builtin plugin configurations that could fetch, and lists
// the kustomization files found.
func copyToMemory(ctx context.Context, r *os.Root, opts Options) (filesys.FileSystem, []string, error) {
	mem := filesys.MakeFsInMemory()
	var (
		total          int64
		files          int
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
		if err := checkRegular(r, p, d); err != nil {
			return err
		}
		if files++; files > opts.MaxFiles {
			return fmt.Errorf("%w: more than %d files", errdef.ErrSizeExceedsLimit, opts.MaxFiles)
		}
		data, err := readCapped(r, p, opts.MaxFileBytes)
		if err != nil {
			return err
		}
		if total += int64(len(data)); total > limits.MaxKustomizeInputBytes {
			return fmt.Errorf("%w: kustomize input exceeds %d bytes", errdef.ErrSizeExceedsLimit, limits.MaxKustomizeInputBytes)
		}
		if err := checkFile(p, data); err != nil {
			return err
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
