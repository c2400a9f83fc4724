package reconcile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
)

// addFile writes body to name under dir.
func addFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAttackForgedInventoryInArtifact: an artifact that ships its Sync's
// inventory ConfigMap, listing an object no Sync owns, is refused whole,
// however often it is reconciled, and the object is never pruned. (Before,
// the second reconcile left the forged record in place because the
// inventory was only written when it differed from the one read before the
// apply, and the third pruned what it listed.)
func TestAttackForgedInventoryInArtifact(t *testing.T) {
	ctx := context.Background()
	cs := clientset(t)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "forged-victim"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("forged-victim").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "precious"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	reg := registrytest.Start(t)
	key := newKeyPair(t)
	dir := app(t, "forged-app", "v1")
	addFile(t, dir, "inventory.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: sealift-inventory-forged
  namespace: sealift-system
  labels: {sealift.dev/sync-name: forged, sealift.dev/sync-namespace: sealift-system}
data:
  entries: "ConfigMap/forged-victim/precious\nNamespace/forged-app"
`)
	publish(t, reg, "apps/forged", "1", dir, key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("forged", "oci://"+reg.Repo("apps/forged"), "1", key)
	s.Spec.Prune = true
	s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxPercent: -1}
	for i := range 3 {
		if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrPolicyViolation) || !strings.Contains(err.Error(), "sealift-inventory-forged") {
			t.Fatalf("reconcile %d: err = %v, want ErrPolicyViolation naming the inventory ConfigMap", i+1, err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("forged-victim").Get(ctx, "precious", metav1.GetOptions{}); err != nil {
		t.Fatalf("the foreign object: %v", err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "forged-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused artifact was applied: namespace forged-app: %v", err)
	}
}

// TestAttackFailedApplyOrphansCreatedObjects: a revision the API server
// refuses part of must not leave what it did create outside the inventory,
// where no later prune would find it. The Namespace the artifact creates is
// written before the objects in it can be checked; the Deployment in it is
// then refused, and the Namespace must be in the inventory recorded in the
// cluster.
func TestAttackFailedApplyOrphansCreatedObjects(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	dir := app(t, "orphan-app", "v1")
	addFile(t, dir, "bad.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: orphan-app
spec:
  replicas: -1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
        - name: bad
          image: registry.example/bad:1.0
`)
	publish(t, reg, "apps/orphan", "1", dir, key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("orphan", "oci://"+reg.Repo("apps/orphan"), "1", key)
	s.Spec.Prune = true
	if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrInvalidObject) || !strings.Contains(err.Error(), "Deployment/orphan-app/bad") {
		t.Fatalf("reconcile: err = %v, want ErrInvalidObject for Deployment/orphan-app/bad", err)
	}
	cs := clientset(t)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "orphan-app", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace orphan-app: %v", err)
	}
	inv, err := cs.CoreV1().ConfigMaps("sealift-system").Get(ctx, "sealift-inventory-orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no inventory recorded after the failed apply: %v", err)
	}
	if !strings.Contains(inv.Data["entries"], "Namespace/orphan-app") {
		t.Errorf("inventory %q does not hold the created Namespace", inv.Data["entries"])
	}
	for _, obj := range []string{"ConfigMap/orphan-app/app-config", "Deployment.apps/orphan-app/app", "Service/orphan-app/app"} {
		if strings.Contains(inv.Data["entries"], obj) {
			t.Errorf("inventory holds %s, which the refused stage never wrote", obj)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("orphan-app").Get(ctx, "app-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("stage 2 was half applied: app-config: %v", err)
	}
}
