package kubetest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Run is meant for TestMain: it starts the control plane, points *env at it,
// runs the package's tests and stops the control plane. It returns the exit
// code for os.Exit. When the binaries are missing it prints how to build
// them and returns 1.
//
//	var env *kubetest.Env
//	func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }
func Run(m *testing.M, env **Env) int {
	logf.SetLogger(logr.Discard())

	dir, err := AssetsDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\n", err)
		return 1
	}
	if err := checkBinaries(dir); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: %v\nkubetest: run `make tools` to build kube-apiserver and etcd into bin/k8s, or set %s to a directory holding them\n", err, AssetsEnv)
		return 1
	}

	te := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
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

func checkBinaries(dir string) error {
	var errs []error
	for _, name := range requiredBinaries {
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
