package reconcile_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
)

// TestFinalize: a deleted Sync's objects are pruned unless spec.prune is
// false; either way its inventory record goes.
func TestFinalize(t *testing.T) {
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	for name, prune := range map[string]bool{"prune": true, "keep": false} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := "finalize-" + name
			publish(t, reg, "apps/"+ns, "1.0.0", app(t, ns, "bye"), key)
			r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
			s := newSync(ns, "oci://"+reg.Repo("apps/"+ns), "1.0.0", key)
			s.Spec.Prune = prune
			if _, err := r.Reconcile(ctx, s); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			res, err := r.Finalize(ctx, s)
			if err != nil {
				t.Fatalf("finalize: %v", err)
			}
			cs := clientset(t)
			_, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "app-config", metav1.GetOptions{})
			if prune && !apierrors.IsNotFound(err) {
				t.Errorf("app-config after finalize with prune: err = %v, want NotFound", err)
			}
			if !prune && err != nil {
				t.Errorf("app-config after finalize with prune false: %v, want kept", err)
			}
			deleted := (&deploy.ChangeSet{Changes: res.Changes}).Count(deploy.ActionDeleted)
			if prune && deleted != 4 || !prune && deleted != 0 {
				t.Errorf("%d objects deleted, changes %+v", deleted, res.Changes)
			}
			_, err = cs.CoreV1().ConfigMaps(s.Namespace).Get(ctx, deploy.InventoryName(s.Name), metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("inventory record after finalize: err = %v, want NotFound", err)
			}
		})
	}
}
