// Command fleet is sealift's fleet benchmark. It starts a real
// kube-apiserver and etcd (with an audit log that counts every request by
// user) and a distribution registry in a process of its own (counting every
// request it serves), pushes N signed artifacts of the podinfo shape, and
// measures the controllers that deliver them, each run as a separate
// process: sealift's alone (`fleet engine`, make bench-engine), or side by
// side with Flux's source-controller and kustomize-controller, built from
// their Go modules (`fleet flux`, make bench-fleet). It is a development
// tool, not part of sealift.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s >> "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

type options struct {
	n               int
	sizes           []int
	rounds          int
	assets          string
	bin             string
	controller      string
	crd             string
	interval        time.Duration
	steadyInterval  time.Duration
	steadyIntervals int
	readyTimeout    time.Duration
	work            string
	keep            bool
	fluxConfigs     string
	pprofAddr       string
	profile         bool
	controllerArgs  string
}

func (o *options) flags(fs *flag.FlagSet, sizes string, rounds int) *string {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = "bin/k8s"
	}
	s := fs.String("n", sizes, "fleet sizes to run, comma-separated")
	fs.IntVar(&o.rounds, "rounds", rounds, "rounds per size (fleet: which tool goes first alternates)")
	fs.StringVar(&o.assets, "assets", assets, "directory holding kube-apiserver and etcd")
	fs.StringVar(&o.bin, "bin", "bin", "directory of sealift-controller and the Flux builds (bin/flux)")
	fs.StringVar(&o.controller, "controller", "", "sealift-controller binary (default BIN/sealift-controller)")
	fs.StringVar(&o.crd, "crd", "config/crd/sealift.dev_syncs.yaml", "the Sync CRD")
	fs.DurationVar(&o.interval, "interval", time.Hour, "interval of every object while the fleet rolls out (Flux's benchmark uses 60m)")
	fs.DurationVar(&o.steadyInterval, "steady-interval", 10*time.Second, "interval set on every object for the steady state")
	fs.IntVar(&o.steadyIntervals, "steady-intervals", 3, "intervals the steady state is counted over (0: skip it)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 30*time.Minute, "how long to wait for all objects to be Ready")
	fs.StringVar(&o.work, "work", "", "working directory (default: a new temporary one, removed at the end)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, audit log, profiles)")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "pass --pprof-addr to sealift-controller")
	fs.BoolVar(&o.profile, "profile", false, "with -pprof-addr: save a CPU profile of the rollout and a heap profile at all Ready into the working directory")
	fs.StringVar(&o.controllerArgs, "controller-args", "", "extra sealift-controller flags, space-separated")
	return s
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-n %q: want positive sizes separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: fleet engine|flux|build-flux|registry [flags]")
	}
	cmd, args := args[0], args[1:]
	var o options
	fs := flag.NewFlagSet("fleet "+cmd, flag.ContinueOnError)
	switch cmd {
	case "registry":
		return serveRegistry(ctx, args)
	case "build-flux":
		fs.StringVar(&o.bin, "bin", "bin", "directory for the Flux builds (bin/flux)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return buildFlux(ctx, o.bin, logf)
	case "engine":
		sizes := o.flags(fs, "100,1000", 1)
		if err := fs.Parse(args); err != nil {
			return err
		}
		var err error
		if o.sizes, err = parseSizes(*sizes); err != nil {
			return err
		}
		return runEngine(ctx, o)
	case "flux":
		sizes := o.flags(fs, "100", 2)
		fs.StringVar(&o.fluxConfigs, "flux", "bench,defaults", "Flux settings to run: bench (source 10, kustomize 20, as Flux's benchmark) and/or defaults")
		if err := fs.Parse(args); err != nil {
			return err
		}
		var err error
		if o.sizes, err = parseSizes(*sizes); err != nil {
			return err
		}
		if err := buildFlux(ctx, o.bin, logf); err != nil {
			return err
		}
		return runFleet(ctx, o)
	}
	return fmt.Errorf("unknown command %q: want engine, flux, build-flux or registry", cmd)
}

// newEnv starts a cluster and a registry in a new working directory and
// publishes n signed artifacts.
func newEnv(ctx context.Context, o options, n int, crds []string) (*env, func(), error) {
	base := o.work
	if base == "" {
		var err error
		if base, err = os.MkdirTemp("", "sealift-fleet-"); err != nil {
			return nil, nil, err
		}
	}
	dir := filepath.Join(base, fmt.Sprintf("n%d-%s", n, time.Now().Format("150405")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		if o.keep {
			logf("working directory kept: %s", dir)
		} else if o.work == "" {
			_ = os.RemoveAll(base)
		}
	}
	fail := func(err error) (*env, func(), error) {
		cleanup()
		return nil, nil, err
	}
	logf("starting kube-apiserver and etcd from %s (audit log in %s)", o.assets, dir)
	c, err := startCluster(o.assets, dir)
	if err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, c.stop)
	if _, err := envtest.InstallCRDs(c.admin, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
		return fail(fmt.Errorf("install CRDs: %w", err))
	}
	reg, err := startRegistry(dir)
	if err != nil {
		return fail(err)
	}
	cleanups = append(cleanups, reg.stop)
	kube, err := kubernetes.NewForConfig(c.admin)
	if err != nil {
		return fail(err)
	}
	dyn, err := dynamic.NewForConfig(c.admin)
	if err != nil {
		return fail(err)
	}
	key, err := newFleetKey()
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	if err := publish(ctx, dir, reg.Addr, n, key); err != nil {
		return fail(err)
	}
	logf("pushed and signed %d artifacts to %s in %s", n, reg.Addr, round(time.Since(start)))
	o.n = n
	return &env{dir: dir, cluster: c, kube: kube, dyn: dyn, registry: reg, key: key, opts: o}, cleanup, nil
}

func (o options) sealift() (*sealiftTool, error) {
	bin := o.controller
	if bin == "" {
		bin = filepath.Join(o.bin, "sealift-controller")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("sealift-controller: %w (run `make build`)", err)
	}
	t := &sealiftTool{bin: bin, pprofAddr: o.pprofAddr, profile: o.profile}
	if o.controllerArgs != "" {
		t.extra = strings.Fields(o.controllerArgs)
	}
	return t, nil
}

// runEngine measures sealift alone at each size.
func runEngine(ctx context.Context, o options) error {
	t, err := o.sealift()
	if err != nil {
		return err
	}
	var all []*result
	for _, n := range o.sizes {
		e, cleanup, err := newEnv(ctx, o, n, []string{o.crd})
		if err != nil {
			return err
		}
		t.workDir = e.dir
		for r := range o.rounds {
			res, err := runPhase(ctx, e, t, fmt.Sprintf("engine-r%d", r+1))
			if err != nil {
				cleanup()
				return err
			}
			all = append(all, res)
			printEngine(os.Stdout, res)
		}
		cleanup()
	}
	printEngineSummary(os.Stdout, all)
	return nil
}

// runFleet measures sealift and Flux on the same cluster and registry, one
// after the other on fresh namespaces, alternating which goes first.
func runFleet(ctx context.Context, o options) error {
	st, err := o.sealift()
	if err != nil {
		return err
	}
	var fluxes []tool
	for _, c := range strings.Split(o.fluxConfigs, ",") {
		switch strings.TrimSpace(c) {
		case "bench":
			fluxes = append(fluxes, &fluxTool{label: "flux (10/20)", binDir: o.bin, source: 10, kustomize: 20})
		case "defaults":
			fluxes = append(fluxes, &fluxTool{label: "flux (defaults)", binDir: o.bin})
		case "":
		default:
			return fmt.Errorf("-flux %q: want bench and/or defaults", o.fluxConfigs)
		}
	}
	if len(fluxes) == 0 {
		return fmt.Errorf("-flux: nothing to compare with")
	}
	crds := []string{o.crd}
	for _, c := range fluxControllers {
		crds = append(crds, fluxCRDDir(o.bin, c))
	}
	var lines []string
	for _, n := range o.sizes {
		e, cleanup, err := newEnv(ctx, o, n, crds)
		if err != nil {
			return err
		}
		st.workDir = e.dir
		byTool := map[string][]*result{}
		var order []string
		for r := range o.rounds {
			tools := append([]tool{st}, fluxes...)
			if r%2 == 1 {
				tools = append(fluxes, st)
			}
			for i, t := range tools {
				res, err := runPhase(ctx, e, t, fmt.Sprintf("r%d-%d-%s", r+1, i, slug(t.Name())))
				if err != nil {
					cleanup()
					return err
				}
				if _, ok := byTool[t.Name()]; !ok {
					order = append(order, t.Name())
				}
				byTool[t.Name()] = append(byTool[t.Name()], res)
			}
		}
		cleanup()
		lines = append(lines, printFleet(os.Stdout, n, order, byTool, st.Name(), fluxes[0].Name()))
	}
	if len(lines) > 1 {
		// One line per size, together at the end.
		fmt.Println()
		for _, l := range lines {
			fmt.Println(l)
		}
	}
	return nil
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
