package kubetest

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// AssetsEnv names the variable that points at a directory holding
	// kube-apiserver and etcd; it overrides the default <module root>/bin/k8s.
	AssetsEnv = "KUBEBUILDER_ASSETS"

	// startTimeout bounds the control plane start: a few seconds on an idle
	// machine, but CI machines shared with builds can be ten times slower.
	startTimeout = 2 * time.Minute
	// stopTimeout bounds the stop: etcd and the API server exit in well under a
	// second on SIGTERM; anything longer is a hang we should not wait out.
	stopTimeout = 15 * time.Second
)

// requiredBinaries are the control plane programs a test package needs.
var requiredBinaries = []string{"kube-apiserver", "etcd"}

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as an admin (system:masters).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same admin user,
	// for tests that run the CLI. It is removed when Run returns.
	Kubeconfig string
}

// Options selects what runs besides kube-apiserver and etcd. The zero value
// runs nothing else.
type Options struct {
	// ControllerManager also runs kube-controller-manager with the namespace
	// and garbage-collector controllers, so deleted namespaces are emptied
	// and go away and owned objects are collected. Its log is discarded.
	ControllerManager bool
	// AdvertiseAddress, when set, is the address the API server advertises
	// instead of the one of the default route, which a network namespace
	// without a default route does not have. It must not be a loopback
	// address (the API server refuses one), e.g. the namespace's own.
	AdvertiseAddress string
}

// Run is meant for TestMain: it starts the control plane, points *env at it,
// runs the package's tests and stops the control plane. It returns the exit
// code for os.Exit. When the binaries are missing it prints how to build
// them and returns 1.
//
//	var env *kubetest.Env
//	func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }
func Run(m *testing.M, env **Env) int { return RunWith(m, env, Options{}) }

// RunWith is Run with options.
//
//	func TestMain(m *testing.M) {
//		os.Exit(kubetest.RunWith(m, &env, kubetest.Options{ControllerManager: true}))
//	}
func RunWith(m *testing.M, env **Env, opts Options) int {
	logf.SetLogger(logr.Discard())
	if fuzzing() {
		// A control plane per fuzz worker would only leave processes behind
		// when the coordinator kills its workers.
		return m.Run()
	}

	dir, err := AssetsDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
		return 1
	}
	required := requiredBinaries
	if opts.ControllerManager {
		required = append(slices.Clone(required), controllerManager)
	}
	if err := checkBinaries(dir, required); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\nkubetest: run `make tools` to build the control plane into bin/k8s, or set %s to a directory holding it\n", err, AssetsEnv)
		return 1
	}

	te := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
	}
	if opts.AdvertiseAddress != "" {
		te.ControlPlane.GetAPIServer().Configure().Set("advertise-address", opts.AdvertiseAddress)
	}
	cfg, err := te.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: start control plane: %v\n", err)
		_ = te.Stop()
		return 1
	}
	code := func() int {
		kubeconfig, cleanup, err := writeKubeconfig(te)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
			return 1
		}
		defer cleanup()
		if opts.ControllerManager {
			stop, err := startControllerManager(filepath.Join(dir, controllerManager), kubeconfig)
			if err != nil {
				fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
				return 1
			}
			defer stop()
		}
		*env = &Env{Config: cfg, Kubeconfig: kubeconfig}
		return m.Run()
	}()
	if err := te.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: stop control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// controllerManager is the binary RunWith starts for Options.ControllerManager.
const controllerManager = "kube-controller-manager"

// startControllerManager runs the namespace and garbage-collector
// controllers against the API server kubeconfig reaches, serving nothing
// itself, and returns a function that stops it.
func startControllerManager(bin, kubeconfig string) (stop func(), err error) {
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--controllers=namespace,garbagecollector",
		"--leader-elect=false",
		"--secure-port=0",
	)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", controllerManager, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

// AssetsDir returns the directory holding the control plane binaries:
// $KUBEBUILDER_ASSETS when set, else <module root>/bin/k8s.
func AssetsDir() (string, error) {
	if dir := os.Getenv(AssetsEnv); dir != "" {
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "k8s"), nil
}

// moduleRoot walks up from the working directory to the nearest go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod found above %s; set %s", wd, AssetsEnv)
		}
		dir = parent
	}
}

func checkBinaries(dir string, names []string) error {
	var errs []error
	for _, name := range names {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s is missing", p))
		case err != nil:
			errs = append(errs, err)
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			errs = append(errs, fmt.Errorf("%s is not an executable file", p))
		}
	}
	return errors.Join(errs...)
}

// writeKubeconfig provisions an admin user and writes its kubeconfig to a
// private temporary file.
func writeKubeconfig(te *envtest.Environment) (path string, cleanup func(), err error) {
	user, err := te.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", nil, fmt.Errorf("add admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// fuzzing reports whether this process is a `go test -fuzz` worker: it runs
// only the fuzz function, and the coordinator (which runs the tests) owns
// the control plane.
func fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	for _, name := range []string{"test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// InstallCRDs applies the CustomResourceDefinitions held in the YAML files
// of dirs (other documents are skipped) and waits until the API server
// serves them.
func (e *Env) InstallCRDs(dirs ...string) error {
	_, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: dirs, ErrorIfPathMissing: true})
	if err != nil {
		return fmt.Errorf("kubetest: install CRDs from %v: %w", dirs, err)
	}
	return nil
}

// Eventually polls cond every 100 ms until it holds, and fails the test
// after timeout with what was awaited and the last state cond reported.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
}
