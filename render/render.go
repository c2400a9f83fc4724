package render

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/object"
)

// Options tunes Render. The zero value renders the whole root with the
// default limits and no transforms.
type Options struct {
	// Path is the directory inside the root to render; "" means ".". It must
	// be a relative path that stays inside the root.
	Path string
	// TargetNamespace is validated here but applied by deploy's Manager
	// (ManagerOptions.TargetNamespace), because only the API server knows
	// which kinds are namespaced. Render leaves metadata.namespace as written.
	TargetNamespace string
	// MaxFileBytes caps one manifest file (and a kustomize build's output);
	// zero means limits.MaxManifestFileBytes.
	MaxFileBytes int64
	// MaxFiles caps the files read: manifest files in a plain directory,
	// every file of the root for a kustomize build; zero means
	// limits.MaxRenderFiles.
	MaxFiles int
	// Images, when set, relocates image references by the images lock the
	// root holds (imagelock.Path, whatever Path is), before Transforms run.
	Images *ImageOptions
	// Transforms run in order on the rendered objects. Their output is
	// validated again like rendered objects.
	Transforms []Transform
}

func (o Options) withDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = limits.MaxManifestFileBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = limits.MaxRenderFiles
	}
	return o
}

// manifestExts are the file name endings Render reads in a plain directory.
var manifestExts = []string{".yaml", ".yml", ".json"}

// Render returns the objects held under root/opts.Path, in a stable order:
// files sorted by path, documents in file order, List items in list order.
// When the directory holds a kustomization file it is built with kustomize
// instead (see the package documentation for what a kustomization may not
// do). Every object has apiVersion, kind and metadata.name, and no two
// share group, kind, namespace and name; violations wrap
// errdef.ErrInvalidObject and name the file and document.
//
// Transforms then run in order on the objects, and what they return is
// checked the same way.
func Render(ctx context.Context, root string, opts Options) ([]*unstructured.Unstructured, error) {
	opts = opts.withDefaults()
	if ns := opts.TargetNamespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%w: target namespace %q: %s", errdef.ErrInvalidObject, ns, strings.Join(errs, "; "))
		}
	}
	sub, err := cleanSubPath(opts.Path)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("render: open root: %w", err)
	}
	defer r.Close()
	fi, err := r.Stat(sub)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", sub, pathError(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("render %s: not a directory", sub)
	}

	kfile, err := findKustomization(r, sub)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	if kfile != "" {
		objs, err = renderKustomization(ctx, r, sub, opts)
	} else {
		objs, err = renderPlain(ctx, r, sub, opts)
	}
	if err != nil {
		return nil, err
	}
	ts := opts.Transforms
	if opts.Images != nil {
		lock, err := readImagesLock(r)
		if err != nil {
			return nil, err
		}
		ts = append([]Transform{relocator{opts: *opts.Images, lock: lock}}, ts...)
	}
	return transform(ctx, objs, ts)
}

// cleanSubPath checks that p names a directory inside the root.
func cleanSubPath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	p = filepath.ToSlash(p)
	if !fs.ValidPath(path.Clean(p)) || strings.Contains(p, "\\") || path.IsAbs(p) || hasDotDot(p) {
		return "", fmt.Errorf("%w: render path %q must be relative and stay inside the artifact", errdef.ErrUnsafePath, p)
	}
	return path.Clean(p), nil
}

func hasDotDot(p string) bool {
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return true
		}
	}
	return false
}

// pathError marks os.Root's refusal to leave the root as an unsafe path.
func pathError(err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: %w", errdef.ErrUnsafePath, err)
	}
	return err
}

// renderPlain decodes every manifest file under dir, in lexical path order.
func renderPlain(ctx context.Context, r *os.Root, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	// Find the files first, in walk order, then decode them a few at a
	// time: decoding YAML is most of rendering. Objects, duplicates and the
	// first error are taken in walk order, so the outcome does not depend
	// on which file finished first.
	var files []string
	err := fs.WalkDir(r.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathError(err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && strings.HasPrefix(name, ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !hasManifestExt(name) {
			return nil
		}
		if isKustomizationName(name) {
			return fmt.Errorf("%w: %s is a kustomization below the rendered directory; set the path to its directory", errdef.ErrUnsupportedMediaType, p)
		}
		if err := checkRegular(r, p, d); err != nil {
			return err
		}
		if len(files) >= opts.MaxFiles {
			return fmt.Errorf("%w: more than %d manifest files", errdef.ErrSizeExceedsLimit, opts.MaxFiles)
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}

	type result struct {
		got decoded
		err error
	}
	results := make([]result, len(files))
	sem := make(chan struct{}, decodeConcurrency)
	var wg sync.WaitGroup
	for i, p := range files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				results[i].err = err
				return
			}
			data, err := readCapped(r, p, opts.MaxFileBytes)
			if err != nil {
				results[i].err = err
				return
			}
			results[i].got, results[i].err = decodeDocuments(p, data)
		})
	}
	wg.Wait()

	var objs []*unstructured.Unstructured
	seen := map[object.Key]string{}
	for _, res := range results {
		if res.err != nil {
			return nil, res.err
		}
		for _, o := range res.got.objs {
			if err := object.CheckDuplicate(seen, o.obj, o.where); err != nil {
				return nil, err
			}
			objs = append(objs, o.obj)
		}
	}
	return objs, nil
}

// decodeConcurrency bounds the manifest files read and decoded at once.
const decodeConcurrency = 4

func hasManifestExt(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	for _, e := range manifestExts {
		if ext == e {
			return true
		}
	}
	return false
}

// readCapped reads one file, refusing it when larger than maxBytes.
func readCapped(r *os.Root, p string, maxBytes int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, pathError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if fi.Size() > maxBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", p, errdef.ErrSizeExceedsLimit, fi.Size(), maxBytes)
	}
	data, err := fsutil.ReadLimited(f, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return data, nil
}

// located is an object and where it was found, for error messages.
type located struct {
	obj   *unstructured.Unstructured
	where string
}

type decoded struct{ objs []located }

// decodeDocuments splits a multi-document YAML (or JSON) file into objects,
// expanding List kinds, and validates each. Documents are numbered from 1 in
// the order they appear, counting empty ones (a separator on the first line
// does not start one), so numbers match what an editor shows.
func decodeDocuments(file string, data []byte) (decoded, error) {
	var out decoded
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		where := fmt.Sprintf("%s: document %d", file, n)
		if err != nil {
			return out, fmt.Errorf("%s: %w: %w", where, errdef.ErrInvalidObject, err)
		}
		obj, err := decodeObject(doc)
		if err != nil {
			return out, fmt.Errorf("%s: %w: %w", where, errdef.ErrInvalidObject, err)
		}
		if obj == nil {
			continue // empty document or comments only
		}
		if !isList(obj) {
			if err := object.Validate(obj); err != nil {
				return out, fmt.Errorf("%s: %w", where, err)
			}
			out.objs = append(out.objs, located{obj, where})
			continue
		}
		items, _ := obj.Object["items"].([]any)
		for i, item := range items {
			itemWhere := fmt.Sprintf("%s, %s item %d", where, obj.GetKind(), i+1)
			m, ok := item.(map[string]any)
			if !ok {
				return out, fmt.Errorf("%s: %w: item is not an object", itemWhere, errdef.ErrInvalidObject)
			}
			o := &unstructured.Unstructured{Object: m}
			if err := object.Validate(o); err != nil {
				return out, fmt.Errorf("%s: %w", itemWhere, err)
			}
			out.objs = append(out.objs, located{o, itemWhere})
		}
	}
}

// decodeObject parses one YAML or JSON document; nil means the document is
// empty. Duplicate keys are refused: which one wins would be a guess.
func decodeObject(doc []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, nil
	}
	if js[0] != '{' {
		return nil, errors.New("document is not an object")
	}
	var m map[string]any
	if err := utiljson.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// isList reports whether obj is a List kind (List, ConfigMapList, ...)
// holding an items array, which Render expands into its items.
func isList(obj *unstructured.Unstructured) bool {
	kind, _ := obj.Object["kind"].(string)
	if !strings.HasSuffix(kind, "List") {
		return false
	}
	_, ok := obj.Object["items"].([]any)
	return ok
}

// checkRegular refuses an entry that is neither a regular file nor a
// symlink to one inside the root (os.Root refuses links that leave it).
func checkRegular(r *os.Root, p string, d fs.DirEntry) error {
	if d.Type()&fs.ModeSymlink != 0 {
		fi, err := r.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, pathError(err))
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: %s is a symlink to something other than a regular file", errdef.ErrUnsafePath, p)
		}
		return nil
	}
	if !d.Type().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", errdef.ErrUnsafePath, p)
	}
	return nil
}
