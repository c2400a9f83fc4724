package imagebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Label keys the images carry in their config (and the index and manifests
// as annotations), as the OCI image spec defines them.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
)

// The identity the images run as: distroless's "nonroot", which the
// Kubernetes restricted profile accepts (any non-zero UID).
const (
	UID  = 65532
	GID  = 65532
	User = "65532:65532"
)

// BinDir is where the binaries go in the image.
const BinDir = "/usr/local/bin"

// CABundlePath is where the CA bundle goes; SSL_CERT_FILE points at it.
const CABundlePath = "/etc/ssl/certs/ca-certificates.crt"

// Platform is an OS and architecture to build for.
type Platform struct {
	OS   string
	Arch string
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// ParsePlatform reads "os/arch".
func ParsePlatform(s string) (Platform, error) {
	os, arch, ok := strings.Cut(s, "/")
	if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
		return Platform{}, fmt.Errorf("platform %q: want os/arch, such as linux/amd64", s)
	}
	return Platform{OS: os, Arch: arch}, nil
}

// DefaultPlatforms are the platforms sealift's images are built for.
var DefaultPlatforms = []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}

// Image describes one image: its name and the main packages whose binaries
// it holds, the first of which is the entrypoint unless Entrypoint says
// otherwise.
type Image struct {
	// Name is the image's title (org.opencontainers.image.title) and the
	// name of its layout directory.
	Name string
	// Packages are Go main packages, as go build takes them (./cmd/x);
	// each binary is named after the last element of its package path.
	Packages []string
	// Entrypoint, when empty, is the first package's binary.
	Entrypoint []string
}

// Options are the settings shared by every image of a build.
type Options struct {
	// Dir is the directory go build runs in (the module root).
	Dir string
	// Platforms to build for; nil means DefaultPlatforms.
	Platforms []Platform
	// Created is the time written into every tar entry, the config and the
	// history; the zero time means the Unix epoch.
	Created time.Time
	// Source, Revision and Version fill the org.opencontainers.image labels
	// of the same names; empty ones are left out.
	Source, Revision, Version string
	// Go is the go command; "" means "go" on PATH.
	Go string
	// Log receives go build's output and progress lines; nil discards them.
	Log io.Writer
}

// Builder compiles binaries once per platform and assembles images from
// them. Close removes its scratch directory.
type Builder struct {
	opts    Options
	scratch string

	mu    sync.Mutex
	built map[string]string // package + platform -> binary path
}

// NewBuilder checks opts and makes a scratch directory for the binaries.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Dir == "" {
		return nil, errors.New("imagebuild: Options.Dir (the module root) is required")
	}
	if len(opts.Platforms) == 0 {
		opts.Platforms = DefaultPlatforms
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC().Truncate(time.Second)
	scratch, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	return &Builder{opts: opts, scratch: scratch, built: map[string]string{}}, nil
}

// Close removes the compiled binaries.
func (b *Builder) Close() error { return os.RemoveAll(b.scratch) }

// goEnv is the environment of every go build: static, and the
// micro-architecture levels pinned so that a GOAMD64 or GOARM64 in the
// caller's environment cannot change the bytes.
func goEnv(p Platform) []string {
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Arch, "GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOARM", "GOFLAGS", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// binary compiles pkg for p (once per Builder) and returns its path.
func (b *Builder) binary(ctx context.Context, pkg string, p Platform) (string, error) {
	key := p.String() + " " + pkg
	b.mu.Lock()
	defer b.mu.Unlock()
	if out, ok := b.built[key]; ok {
		return out, nil
	}
	out := filepath.Join(b.scratch, p.OS+"-"+p.Arch, path.Base(pkg))
	// -trimpath drops local paths, -buildid= the build ID (a hash that
	// includes the output path); -s -w drop the symbol table and DWARF
	// (panics still name functions). -buildvcs=false: whether the go
	// command stamps the commit depends on the checkout (a clone is
	// stamped, a git worktree or a source archive is not), which would give
	// one commit several digests; the image's labels carry the revision.
	cmd := exec.CommandContext(ctx, b.opts.Go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = b.opts.Dir
	cmd.Env = goEnv(p)
	var stderr bytes.Buffer
	cmd.Stdout = b.opts.Log
	cmd.Stderr = io.MultiWriter(b.opts.Log, &stderr)
	fmt.Fprintf(b.opts.Log, "go build %s for %s\n", pkg, p)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("imagebuild: go build %s for %s: %w\n%s", pkg, p, err, strings.TrimSpace(stderr.String()))
	}
	b.built[key] = out
	return out, nil
}

// Index builds img for every platform and returns its OCI image index.
func (b *Builder) Index(ctx context.Context, img Image) (v1.ImageIndex, error) {
	if img.Name == "" || len(img.Packages) == 0 {
		return nil, errors.New("imagebuild: an image needs a name and at least one package")
	}
	base, err := baseLayer(b.opts.Created)
	if err != nil {
		return nil, err
	}
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range b.opts.Platforms {
		var files []File
		var names []string
		for _, pkg := range img.Packages {
			bin, err := b.binary(ctx, pkg, p)
			if err != nil {
				return nil, err
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, fmt.Errorf("imagebuild: %w", err)
			}
			name := path.Base(pkg)
			names = append(names, name)
			files = append(files, File{Path: path.Join(BinDir, name), Mode: 0o755, Data: data})
		}
		bins, err := NewLayer(withParents(files), b.opts.Created)
		if err != nil {
			return nil, err
		}
		entry := img.Entrypoint
		if len(entry) == 0 {
			entry = []string{path.Join(BinDir, names[0])}
		}
		im, err := b.image(p, img.Name, entry, base, bins, names)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        im,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	return mutate.Annotations(idx, b.labels(img.Name)).(v1.ImageIndex), nil
}

// labels are the config labels and the manifest annotations of an image.
func (b *Builder) labels(name string) map[string]string {
	l := map[string]string{
		LabelTitle:   name,
		LabelCreated: b.opts.Created.Format(time.RFC3339),
	}
	for k, v := range map[string]string{LabelSource: b.opts.Source, LabelRevision: b.opts.Revision, LabelVersion: b.opts.Version} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

// image assembles one platform's image from its two layers.
func (b *Builder) image(p Platform, name string, entrypoint []string, base, bins v1.Layer, binaries []string) (v1.Image, error) {
	created := v1.Time{Time: b.opts.Created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "imagebuild: CA bundle (" + CABundlePath + "), /etc/passwd and /etc/group with nonroot 65532, /tmp",
		}},
		mutate.Addendum{Layer: bins, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "imagebuild: go build -trimpath CGO_ENABLED=0 " + strings.Join(binaries, " ") + " into " + BinDir,
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = p.OS, p.Arch
	cfg.Created = created
	cfg.Config = v1.Config{
		User:       User,
		Entrypoint: entrypoint,
		WorkingDir: "/",
		Env: []string{
			"PATH=" + BinDir,
			"SSL_CERT_FILE=" + CABundlePath,
			"HOME=/home/nonroot",
		},
		Labels: b.labels(name),
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	return mutate.Annotations(img, b.labels(name)).(v1.Image), nil
}
