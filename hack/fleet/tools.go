package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// sealiftTool is `sealift controller` (the sealift-controller binary) with
// its defaults.
type sealiftTool struct {
	bin       string
	pprofAddr string // set to profile the controller
	profile   bool   // save profiles into workDir (needs pprofAddr)
	workDir   string
	extra     []string
}

// profiling saves a CPU profile of the first profileSeconds after start and
// a heap profile when everything is Ready.
const profileSeconds = 60

func (s *sealiftTool) fetchProfile(path, name string) {
	resp, err := http.Get("http://" + s.pprofAddr + path)
	if err != nil {
		logf("profile %s: %v", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(s.workDir, name))
	if err != nil {
		logf("profile %s: %v", name, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		logf("profile %s: %v", name, err)
		return
	}
	logf("saved %s", f.Name())
}

// atReady is called by runPhase once every object is Ready.
func (s *sealiftTool) atReady(ns string) {
	if s.profile && s.pprofAddr != "" {
		s.fetchProfile("/debug/pprof/heap", ns+"-heap.pprof")
	}
}

func (s *sealiftTool) Name() string    { return "sealift" }
func (s *sealiftTool) Users() []string { return []string{"sealift-controller"} }

func (s *sealiftTool) Start(ctx context.Context, e *env, dir string) ([]*controllerProc, error) {
	kc, err := e.cluster.kubeconfig("sealift-controller")
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	health, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// Scoped to the phase's namespace, as Flux's controllers are: objects
	// of earlier phases (still reconciled every 10s) must not load this one.
	args := []string{"--kubeconfig", kc, "--metrics-addr", metrics, "--health-addr", health,
		"--cache-dir", filepath.Join(dir, "cache"), "--watch-namespace", filepath.Base(dir)}
	if s.pprofAddr != "" {
		args = append(args, "--pprof-addr", s.pprofAddr)
	}
	args = append(args, s.extra...)
	p, err := startProc("sealift-controller", filepath.Join(dir, "sealift-controller.log"), nil, s.bin, args...)
	if err != nil {
		return nil, err
	}
	if err := p.waitHealthy("http://"+health+"/readyz", time.Minute); err != nil {
		p.stop()
		return nil, err
	}
	if s.profile && s.pprofAddr != "" {
		go s.fetchProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", profileSeconds), filepath.Base(dir)+"-cpu.pprof")
	}
	return []*controllerProc{p}, nil
}

func (s *sealiftTool) Objects(e *env, ns string, i int, interval time.Duration) []*unstructured.Unstructured {
	return []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "sealift.dev/v1alpha1",
		"kind":       "Sync",
		"metadata":   map[string]any{"name": fmt.Sprintf("podinfo-%d", i), "namespace": ns},
		"spec": map[string]any{
			"source": map[string]any{
				"url":      repoURL(e.registry.Addr, i),
				"ref":      map[string]any{"tag": artifactTag},
				"insecure": true,
			},
			"verify":          map[string]any{"keys": []any{map[string]any{"secretRef": map[string]any{"name": keySecret}}}},
			"targetNamespace": ns,
			"prune":           true,
			"wait":            false,
			"interval":        interval.String(),
		},
	}}}
}

func (s *sealiftTool) Ready() schema.GroupVersionResource    { return syncGVR }
func (s *sealiftTool) Sources() *schema.GroupVersionResource { return nil }

// fluxTool is Flux's source-controller and kustomize-controller, run out
// of cluster, with the given concurrency (0: the controller's default).
type fluxTool struct {
	label             string
	binDir            string
	source, kustomize int
}

func (f *fluxTool) Name() string { return f.label }
func (f *fluxTool) Users() []string {
	return []string{"flux-source-controller", "flux-kustomize-controller"}
}

func (f *fluxTool) Start(ctx context.Context, e *env, dir string) ([]*controllerProc, error) {
	var procs []*controllerProc
	fail := func(err error) ([]*controllerProc, error) {
		for _, p := range procs {
			p.stop()
		}
		return nil, err
	}
	for _, c := range fluxControllers {
		user := "flux-" + c.Name
		kc, err := e.cluster.kubeconfig(user)
		if err != nil {
			return fail(err)
		}
		metrics, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		health, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		// Scoped to the phase's namespace (RUNTIME_NAMESPACE), as sealift's
		// controller is.
		args := []string{"--metrics-addr=" + metrics, "--health-addr=" + health,
			"--enable-leader-election=false", "--watch-all-namespaces=false", "--log-level=info"}
		concurrent := f.kustomize
		if c.Name == "source-controller" {
			storage, err := freeAddr()
			if err != nil {
				return fail(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
				return fail(err)
			}
			args = append(args, "--storage-path="+filepath.Join(dir, "storage"),
				"--storage-addr="+storage, "--storage-adv-addr="+storage)
			concurrent = f.source
		}
		if concurrent > 0 {
			args = append(args, fmt.Sprintf("--concurrent=%d", concurrent))
		}
		env := []string{"KUBECONFIG=" + kc, "RUNTIME_NAMESPACE=" + filepath.Base(dir)}
		p, err := startProc(c.Name, filepath.Join(dir, c.Name+".log"), env, fluxBin(f.binDir, c), args...)
		if err != nil {
			return fail(err)
		}
		procs = append(procs, p)
		if err := p.waitHealthy("http://"+health+"/readyz", time.Minute); err != nil {
			return fail(err)
		}
	}
	return procs, nil
}

func (f *fluxTool) Objects(e *env, ns string, i int, interval time.Duration) []*unstructured.Unstructured {
	name := fmt.Sprintf("podinfo-%d", i)
	return []*unstructured.Unstructured{
		{Object: map[string]any{
			"apiVersion": "source.toolkit.fluxcd.io/v1",
			"kind":       "OCIRepository",
			"metadata":   map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{
				"interval": interval.String(),
				"url":      repoURL(e.registry.Addr, i),
				"ref":      map[string]any{"tag": artifactTag},
				"insecure": true,
				"verify":   map[string]any{"provider": "cosign", "secretRef": map[string]any{"name": keySecret}},
			},
		}},
		{Object: map[string]any{
			"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
			"kind":       "Kustomization",
			"metadata":   map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{
				"interval":        interval.String(),
				"retryInterval":   "2m",
				"sourceRef":       map[string]any{"kind": "OCIRepository", "name": name},
				"path":            "./",
				"prune":           true,
				"wait":            false,
				"timeout":         "5m",
				"targetNamespace": ns,
			},
		}},
	}
}

func (f *fluxTool) Ready() schema.GroupVersionResource { return kustomizationGVR }
func (f *fluxTool) Sources() *schema.GroupVersionResource {
	gvr := ociRepositoryGVR
	return &gvr
}
