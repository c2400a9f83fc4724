package controller

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/deploy"
)

// peakCounter counts the requests on the wire and the most in flight at
// once.
type peakCounter struct {
	inFlight, peak, total atomic.Int64
}

func (c *peakCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		c.total.Add(1)
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
		return rt.RoundTrip(req)
	})
}

// grantAdmin binds the namespace's service accounts to cluster-admin within
// the namespace (admin and edit are aggregated roles, empty without the
// controller manager's aggregation controller).
func grantAdmin(t *testing.T, ns string, accounts ...string) {
	t.Helper()
	kc := kubernetes.NewForConfigOrDie(env.Config)
	for _, sa := range accounts {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: sa + "-admin", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
		}
		if _, err := kc.RbacV1().RoleBindings(ns).Create(context.Background(), rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two apply managers (two service accounts) built from the engine's config
// applying at full speed at once stay within one bound between them: the
// bound is the process's, not each apply's.
func TestAPIRequestsInFlightSharedAcrossManagers(t *testing.T) {
	ctx := context.Background()
	ns := "apilimit"
	kc := kubernetes.NewForConfigOrDie(env.Config)
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"a", "b"} {
		if _, err := kc.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	grantAdmin(t, ns, "a", "b")

	counter := &peakCounter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(counter.wrap) // inner: sees what reaches the wire
	const bound = 3
	cfg = limitAPI(cfg, bound)

	var g errgroup.Group
	for _, sa := range []string{"a", "b"} {
		g.Go(func() error {
			m, err := deploy.NewManager(cfg, deploy.ManagerOptions{ServiceAccount: ns + "/" + sa, Concurrency: 32})
			if err != nil {
				return err
			}
			var objs []*unstructured.Unstructured
			for i := range 40 {
				objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "v1", "kind": "ConfigMap",
					"metadata": map[string]any{"name": fmt.Sprintf("%s-%d", sa, i), "namespace": ns},
					"data":     map[string]any{"k": "v"},
				}})
			}
			_, err = m.ApplyAllStaged(ctx, objs)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if p := counter.peak.Load(); p > bound || p < 2 {
		t.Errorf("peak API requests in flight = %d over %d requests, want 2..%d", p, counter.total.Load(), bound)
	}
	cms, err := kc.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) < 80 {
		t.Errorf("%d ConfigMaps applied, want 80", len(cms.Items))
	}
}
