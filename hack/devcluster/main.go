// Command devcluster runs a local Kubernetes control plane (etcd and
// kube-apiserver from bin/k8s) for `make demo`, writes an admin kubeconfig,
// and stops everything on SIGINT or SIGTERM. It is a development aid, not part
// of sealift.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory holding kube-apiserver and etcd")
	kubeconfig := flag.String("out", "", "where to write the admin kubeconfig")
	flag.Parse()
	if err := run(*assets, *kubeconfig); err != nil {
		fmt.Fprintf(os.Stderr, "devcluster: %v\n", err)
		os.Exit(1)
	}
}

func run(assets, kubeconfig string) error {
	if assets == "" || kubeconfig == "" {
		return fmt.Errorf("-assets and -out are required")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make tools`", b, assets)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	defer env.Stop()
	user, err := env.AddUser(envtest.User{Name: "sealift-demo", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devcluster: API server ready, kubeconfig %s\n", kubeconfig)
	<-ctx.Done()
	return nil
}
