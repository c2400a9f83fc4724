package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// FluxVersion is the version of both Flux controllers built (the Flux 2.9
// line; their go.mod asks for go 1.26.0, so they build on Go 1.26.8).
const FluxVersion = "v1.9.6"

// fluxController is one Flux controller module built from the module proxy.
type fluxController struct {
	Name   string // binary name, e.g. source-controller
	Module string
	// Fallbacks replace a required module version the proxy does not
	// serve with one it does (module path -> version).
	Fallbacks map[string]string
}

var fluxControllers = []fluxController{
	{Name: "source-controller", Module: "github.com/fluxcd/source-controller",
		Fallbacks: map[string]string{"github.com/fluxcd/pkg/artifact": "v0.18.0"}},
	{Name: "kustomize-controller", Module: "github.com/fluxcd/kustomize-controller"},
}

// fluxBin is where a built controller lives, and its CRDs beside it.
func fluxBin(binDir string, c fluxController) string {
	return filepath.Join(binDir, "flux", c.Name)
}

func fluxCRDDir(binDir string, c fluxController) string {
	return filepath.Join(binDir, "flux", "crd", c.Name)
}

// buildFlux builds each Flux controller into binDir/flux unless a binary of
// FluxVersion is already there. The controllers are package main at their
// module root and carry replace directives, so neither `go install` nor a
// scratch module importing them works: the module is copied out of the
// module cache and built in place, with the replace of its nested api module
// (not part of the module zip) dropped in favour of the published one.
func buildFlux(ctx context.Context, binDir string, logf func(string, ...any)) error {
	// Absolute: each controller is built from its own directory.
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	for _, c := range fluxControllers {
		bin := fluxBin(binDir, c)
		stamp := bin + ".version"
		if data, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(data)) == FluxVersion {
			if _, err := os.Stat(bin); err == nil {
				continue
			}
		}
		logf("building %s %s from its Go module (first time: about 5 minutes on 2 cores)", c.Name, FluxVersion)
		if err := buildFluxController(ctx, binDir, c); err != nil {
			return fmt.Errorf("build %s %s: %w", c.Name, FluxVersion, err)
		}
		if err := os.WriteFile(stamp, []byte(FluxVersion+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func buildFluxController(ctx context.Context, binDir string, c fluxController) error {
	out, err := goCmd(ctx, "", nil, "mod", "download", "-json", c.Module+"@"+FluxVersion)
	if err != nil {
		return err
	}
	var dl struct{ Dir, Error string }
	if err := json.Unmarshal(out, &dl); err != nil {
		return fmt.Errorf("go mod download: %w", err)
	}
	if dl.Error != "" || dl.Dir == "" {
		return fmt.Errorf("go mod download: %s", dl.Error)
	}
	work := filepath.Join(binDir, ".build", "flux", c.Name)
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := copyTree(dl.Dir, work); err != nil {
		return err
	}
	gomod := filepath.Join(work, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return err
	}
	// The nested api module is not in the module zip: use the published one.
	local := regexp.MustCompile(`(?m)^replace\s+` + regexp.QuoteMeta(c.Module) + `/api\s+=>\s+\./api\s*$`)
	text := local.ReplaceAllString(string(data), "")
	for mod, version := range c.Fallbacks {
		req := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(mod) + `\s+(v\S+)`).FindStringSubmatch(text)
		if req == nil {
			continue
		}
		if _, err := goCmd(ctx, "", nil, "mod", "download", mod+"@"+req[1]); err == nil {
			continue // served: keep the version the controller asks for
		}
		text += fmt.Sprintf("\nreplace %s => %s %s\n", mod, mod, version)
	}
	if err := os.WriteFile(gomod, []byte(text), 0o644); err != nil {
		return err
	}
	env := []string{"GOFLAGS=-mod=mod", "CGO_ENABLED=0"}
	if _, err := goCmd(ctx, work, env, "build", "-trimpath", "-buildvcs=false", "-o", fluxBin(binDir, c), "."); err != nil {
		return err
	}
	crds := fluxCRDDir(binDir, c)
	if err := os.RemoveAll(crds); err != nil {
		return err
	}
	return copyTree(filepath.Join(work, "config", "crd", "bases"), crds)
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// copyTree copies the regular files and directories under src to dst,
// writable (the module cache is read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
		return nil
	})
}
