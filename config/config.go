package config

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

//go:embed crd/*.yaml rbac/*.yaml manager/*.yaml default/*.yaml lockdown/*.yaml
var files embed.FS

// FS returns the embedded manifests, as laid out under config/.
func FS() fs.FS { return files }

// Overlays that Render builds.
const (
	// Default is the base: cluster-admin for the controller, as Flux's.
	Default = "default"
	// Lockdown lets the controller only impersonate service accounts.
	Lockdown = "lockdown"
)

// Names of what the install creates, for the commands that look for them.
const (
	Namespace      = "sealift-system"
	Deployment     = "sealift-controller"
	ServiceAccount = "sealift-controller"
	CRDName        = "syncs.sealift.dev"
	// ImageName is the image the manifests name, which Render replaces.
	ImageName = "sealift"
)

// Options select what Render builds.
type Options struct {
	// Overlay is Default (when empty) or Lockdown.
	Overlay string
	// Image replaces the controller's image: a full reference, host/path
	// with a tag, a digest or both. Empty keeps ImageName.
	Image string
	// Registry, when set, replaces everything of Image before its last
	// path element (host and path of a mirror): with Image
	// "example.com/team/sealift:v1" and Registry "mirror.internal:5000/m",
	// the controller runs "mirror.internal:5000/m/sealift:v1".
	Registry string
}

// ImageRef returns the image reference o selects, or ImageName.
func (o Options) ImageRef() (string, error) {
	ref := o.Image
	if ref == "" {
		ref = ImageName
	}
	if strings.ContainsAny(ref, " \t\n") || strings.HasPrefix(ref, "oci://") {
		return "", fmt.Errorf("image %q: want host/path[:tag][@sha256:digest]", ref)
	}
	if o.Registry == "" {
		return ref, nil
	}
	reg := strings.TrimSuffix(o.Registry, "/")
	if !validRegistry(reg) {
		return "", fmt.Errorf("registry %q: want host[:port][/path]", o.Registry)
	}
	// The last path element, with its tag and digest.
	last := ref
	if i := strings.LastIndex(strings.SplitN(ref, "@", 2)[0], "/"); i >= 0 {
		last = ref[i+1:]
	}
	return reg + "/" + last, nil
}

// validRegistry reports whether s is host[:port][/path].
func validRegistry(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\n@") {
		return false
	}
	host, rest, _ := strings.Cut(s, "/")
	if host == "" || strings.Contains(rest, ":") || strings.Contains(rest, "//") {
		return false
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		if h == "" || port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	return true
}

// splitImage splits a reference into kustomize's image fields.
func splitImage(ref string) types.Image {
	img := types.Image{Name: ImageName}
	rest := ref
	if r, d, ok := strings.Cut(ref, "@"); ok {
		rest, img.Digest = r, d
	}
	// A colon after the last slash starts the tag.
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		rest, img.NewTag = rest[:i], rest[i+1:]
	}
	img.NewName = rest
	return img
}

// Render builds the overlay o names with the image set, as
// `kustomize build` would a kustomization holding
//
//	resources: [../<overlay>]
//	images: [{name: sealift, newName: ..., newTag: ..., digest: ...}]
//
// and returns the YAML stream.
func Render(o Options) ([]byte, error) {
	overlay := o.Overlay
	if overlay == "" {
		overlay = Default
	}
	if overlay != Default && overlay != Lockdown {
		return nil, fmt.Errorf("config: unknown overlay %q (want %s or %s)", overlay, Default, Lockdown)
	}
	ref, err := o.ImageRef()
	if err != nil {
		return nil, err
	}
	mem := filesys.MakeFsInMemory()
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join("/", p), data)
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	target := path.Join("/", overlay)
	if ref != ImageName {
		img := splitImage(ref)
		k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../%s\nimages:\n  - name: %s\n    newName: %q\n", overlay, img.Name, img.NewName)
		if img.NewTag != "" {
			k += fmt.Sprintf("    newTag: %q\n", img.NewTag)
		}
		if img.Digest != "" {
			k += fmt.Sprintf("    digest: %q\n", img.Digest)
		}
		target = "/install"
		if err := mem.WriteFile(path.Join(target, "kustomization.yaml"), []byte(k)); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return Build(mem, target)
}

// Build runs kustomize on dir of fsys with the settings Render uses
// (files from inside the tree only, no plugins), for tests that build the
// directories on disk.
func Build(fsys filesys.FileSystem, dir string) ([]byte, error) {
	kopts := krusty.MakeDefaultOptions()
	kopts.LoadRestrictions = types.LoadRestrictionsRootOnly
	kopts.PluginConfig = types.DisabledPluginConfig()
	res, err := krusty.MakeKustomizer(kopts).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("config: kustomize build %s: %w", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("config: the build is empty")
	}
	return out, nil
}
