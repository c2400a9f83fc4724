package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// auditPolicy logs every request once, at metadata level, when its
// response completes (long-running watches also when they start).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// cluster is a running kube-apiserver and etcd whose audit log counts every
// request by the user that made it.
type cluster struct {
	env   *envtest.Environment
	dir   string
	admin *rest.Config // the harness's own user
	audit *auditCounter
}

// startCluster starts kube-apiserver and etcd from assets with an audit log
// in dir.
func startCluster(assets, dir string) (*cluster, error) {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make tools` (or set KUBEBUILDER_ASSETS)", b, assets)
		}
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	auditLog := filepath.Join(dir, "audit.log")
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("audit-policy-file", policy)
	args.Set("audit-log-path", auditLog)
	args.Set("audit-log-format", "json")
	// Blocking: a batched log drops events when its buffer fills, and every
	// request must be counted (a line written per request costs microseconds).
	args.Set("audit-log-mode", "blocking")
	args.Set("audit-log-maxsize", "0")
	if _, err := env.Start(); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	c := &cluster{env: env, dir: dir}
	admin, err := c.user("fleet-harness")
	if err != nil {
		c.stop()
		return nil, err
	}
	c.admin = admin
	c.audit = newAuditCounter(auditLog)
	return c, nil
}

// user adds a cluster-admin user and returns its config; its requests are
// counted under name in the audit log.
func (c *cluster) user(name string) (*rest.Config, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", name, err)
	}
	cfg := u.Config()
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg, nil
}

// kubeconfig writes a kubeconfig for a new user name into the cluster's
// directory and returns its path.
func (c *cluster) kubeconfig(name string) (string, error) {
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, name+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

func (c *cluster) stop() {
	if c.audit != nil {
		c.audit.close()
	}
	_ = c.env.Stop()
}
