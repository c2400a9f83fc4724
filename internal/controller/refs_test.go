package controller

import (
	"context"
	"errors"
	"fmt"
	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
)

// validSync is a Sync that passes reconcile's validation, for the checks
// the controller adds before any Secret is read.
func validSync() *sealiftv1.Sync {
	s := &sealiftv1.Sync{ObjectMeta: metav1.ObjectMeta{Name: "tenant", Namespace: "team-a"}}
	s.Spec.Source.URL = "oci://registry.example.com/apps/app"
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: "1.0.0"}
	s.Spec.Verify.Keys = []sealiftv1.Key{{PEM: "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"}}
	return s
}

// TestAttackKeyPathReadsControllerFile: a tenant's Sync names a file of the
// controller's Pod (its service account token, another tenant's mounted
// key) as a public key or trust root. In-cluster, paths are refused before
// anything is read.
func TestAttackKeyPathReadsControllerFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("controller's own secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]func(*sealiftv1.Sync){
		"key path": func(s *sealiftv1.Sync) {
			s.Spec.Verify.Keys = []sealiftv1.Key{{Path: secret}}
		},
		"trusted root path": func(s *sealiftv1.Sync) {
			s.Spec.Verify.Identities = []sealiftv1.Identity{{Issuer: "https://issuer.example.com", Subject: "ci@example.com"}}
			s.Spec.Verify.TrustedRoot = &sealiftv1.FileRef{Path: secret}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			s := validSync()
			mutate(s)
			r := &SyncReconciler{}
			_, err := r.prepare(context.Background(), s, reconcile.Engine{})
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("prepare: err = %v, want %v", err, errdef.ErrInvalidObject)
			}
			if !errdef.IsTerminal(err) {
				t.Errorf("err %v is not terminal: the Sync would be retried with back-off", err)
			}
		})
	}
}

// TestAttackCrossNamespaceTarget: with --no-cross-namespace-refs, a tenant's
// Sync cannot aim its objects at another namespace.
func TestAttackCrossNamespaceTarget(t *testing.T) {
	tests := map[string]struct {
		target string
		lock   bool
		want   error
	}{
		"other namespace, locked":   {target: "kube-system", lock: true, want: errdef.ErrInvalidObject},
		"own namespace, locked":     {target: "team-a", lock: true},
		"no target, locked":         {lock: true},
		"other namespace, unlocked": {target: "kube-system"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := validSync()
			s.Spec.TargetNamespace = tc.target
			r := &SyncReconciler{NoCrossNamespaceRefs: tc.lock}
			p, err := r.prepare(context.Background(), s, reconcile.Engine{})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("prepare: err = %v, want %v", err, tc.want)
			}
			if p != nil {
				p.cleanup()
			}
		})
	}
}

// TestControllerDefaultServiceAccount: a Sync naming no service account
// impersonates --default-service-account; one naming its own keeps it.
func TestControllerDefaultServiceAccount(t *testing.T) {
	r := &SyncReconciler{DefaultServiceAccount: "sealift-apply"}
	for _, tc := range []struct{ own, want string }{{"", "sealift-apply"}, {"deployer", "deployer"}} {
		s := validSync()
		s.Spec.ServiceAccountName = tc.own
		p, err := r.prepare(context.Background(), s, reconcile.Engine{})
		if err != nil {
			t.Fatal(err)
		}
		if got := reconcile.ManagerOptions(p.sync).ServiceAccount; got != "team-a/"+tc.want {
			t.Errorf("own %q: impersonates %q, want team-a/%s", tc.own, got, tc.want)
		}
		if s.Spec.ServiceAccountName != tc.own {
			t.Errorf("prepare changed the Sync's own spec to %q", s.Spec.ServiceAccountName)
		}
	}
}

// TestControllerKeyFromSecret: keys come from a Secret of the Sync's
// namespace; a missing Secret is reported (and retried), not stalled.
func TestControllerKeyFromSecret(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-secret", "ctl-secret-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/secret", "1.0.0", app(t, appNS, "from a secret"), time.Time{}, key)
	startController(t, ns)

	s := newSync(ns, "secret", "oci://"+reg.Repo("apps/secret"), "1.0.0", time.Hour)
	s.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
	s.Spec.Verify.Keys = []sealiftv1.Key{{SecretRef: &sealiftv1.LocalObjectReference{Name: "cosign-pub"}}}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the missing Secret reported", func() (bool, string) {
		s = getSync(t, ns, "secret")
		ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == sealiftv1.ReasonInvalidSpec, fmt.Sprintf("%+v", s.Status)
	})
	if apimeta.IsStatusConditionTrue(s.Status.Conditions, sealiftv1.ConditionStalled) {
		t.Error("a missing Secret stalled the Sync; creating the Secret must be enough")
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cosign-pub", Namespace: ns}, Data: map[string][]byte{"cosign.pub": key.PublicPEM}}
	if err := c.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "secret", desc.Digest.String())
}

// TestControllerDependsOn: a Sync waits until the Syncs it depends on are Ready.
func TestControllerDependsOn(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns = "ctl-deps"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	infra := publish(t, reg, "apps/infra", "1.0.0", app(t, "ctl-deps-infra", "infra"), time.Time{}, key)
	web := publish(t, reg, "apps/web", "1.0.0", app(t, "ctl-deps-web", "web"), time.Time{}, key)
	startController(t, ns)

	s := newSync(ns, "web", "oci://"+reg.Repo("apps/web"), "1.0.0", time.Hour, key)
	s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{Name: "infra"}}
	s.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web waiting for infra", func() (bool, string) {
		s = getSync(t, ns, "web")
		ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
		return ready != nil && ready.Reason == ReasonDependencyNotReady, fmt.Sprintf("%+v", s.Status)
	})
	if _, ok := configMessage(t, "ctl-deps-web"); ok {
		t.Fatal("web applied before infra existed")
	}
	if err := c.Create(ctx, newSync(ns, "infra", "oci://"+reg.Repo("apps/infra"), "1.0.0", time.Hour, key)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "infra", infra.Digest.String())
	waitReady(t, ns, "web", web.Digest.String())
}

// TestControllerLeaderElection: of two replicas, only the leader opens the
// cache and reconciles; when it stops, the other takes the Lease over and
// carries on.
func TestControllerLeaderElection(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns, appNS = "ctl-leader", "ctl-leader-app"
	createNamespace(t, ns)
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	v1 := publish(t, reg, "apps/leader", "stable", app(t, appNS, "one"), time.Time{}, key)
	elect := func(o *Options) {
		o.LeaderElection = true
		o.LeaderElectionNamespace = ns
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 3*time.Second, 2*time.Second, 200*time.Millisecond
	}
	first := startController(t, ns, elect)
	if err := c.Create(ctx, newSync(ns, "leader", "oci://"+reg.Repo("apps/leader"), "stable", time.Hour, key)); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ns, "leader", v1.Digest.String())

	var standbyDir string
	standby := startController(t, ns, elect, func(o *Options) { standbyDir = o.CacheDir })
	time.Sleep(2 * time.Second)
	if _, err := os.Stat(filepath.Join(standbyDir, "index.db")); !os.IsNotExist(err) {
		t.Errorf("the standby replica opened its cache: stat index.db: %v", err)
	}

	v2 := publish(t, reg, "apps/leader", "stable", app(t, appNS, "two"), time.Time{}, key)
	first.stop()
	waitReady(t, ns, "leader", v2.Digest.String())
	if _, err := os.Stat(filepath.Join(standbyDir, "index.db")); err != nil {
		t.Errorf("the new leader did not open its cache: %v", err)
	}
	_ = standby
}

// TestControllerDeletesABrokenSync: a Sync the controller refuses (a key
// path, here) is stalled with the reason, and can still be deleted.
func TestControllerDeletesABrokenSync(t *testing.T) {
	ctx := context.Background()
	c := setup(t)
	const ns = "ctl-broken"
	createNamespace(t, ns)
	startController(t, ns)
	s := newSync(ns, "broken", "oci://127.0.0.1:1/apps/broken", "1.0.0", time.Hour)
	s.Spec.Verify.Keys = []sealiftv1.Key{{Path: "/var/run/secrets/kubernetes.io/serviceaccount/token"}}
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Stalled", func() (bool, string) {
		s = getSync(t, ns, "broken")
		stalled := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled)
		return stalled != nil && stalled.Reason == sealiftv1.ReasonInvalidSpec, fmt.Sprintf("%+v", s.Status)
	})
	if err := c.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the Sync gone", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKeyFromObject(s), &sealiftv1.Sync{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// TestKubeconfigDiscovery: the cluster is found as kubectl finds it, the
// flag first, then $KUBECONFIG.
func TestKubeconfigDiscovery(t *testing.T) {
	elsewhere := filepath.Join(t.TempDir(), "kubeconfig")
	other := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://elsewhere.invalid:6443\"}}]\n" +
		"contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\ncurrent-context: c\n"
	if err := os.WriteFile(elsewhere, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", env.Kubeconfig)
	host := func(o Options) string {
		t.Helper()
		cfg, err := o.restConfig()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(cfg.Host, "/")
	}
	if got, want := host(Options{}), strings.TrimSuffix(env.Config.Host, "/"); got != want {
		t.Errorf("from $KUBECONFIG: host %s, want %s", got, want)
	}
	if got := host(Options{Kubeconfig: elsewhere}); got != "https://elsewhere.invalid:6443" {
		t.Errorf("--kubeconfig over $KUBECONFIG: host %s", got)
	}
}

// TestKubeconfigNotRateLimited: the controller's clients, from a kubeconfig
// (which cannot set a rate), are not held to client-go's default of 5
// requests a second; a config handed in with its own rate keeps it.
func TestKubeconfigNotRateLimited(t *testing.T) {
	cfg, err := (&Options{Kubeconfig: env.Kubeconfig}).restConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS >= 0 || cfg.RateLimiter != nil {
		t.Errorf("from a kubeconfig: QPS %v, rate limiter %v; want no client-side limit (QPS < 0)", cfg.QPS, cfg.RateLimiter)
	}
	own := rest.CopyConfig(env.Config)
	own.QPS, own.Burst = 50, 100
	if cfg, err = (&Options{RestConfig: own}).restConfig(); err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != 50 || cfg.Burst != 100 {
		t.Errorf("a config with its own rate: QPS %v burst %d, want 50 and 100", cfg.QPS, cfg.Burst)
	}
}
