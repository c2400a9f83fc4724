package reconcile

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/deploy"
)

// Finalize undoes what s applied, for a Sync that is being deleted. Unless
// spec.prune is false, it deletes every object of s's inventory (the
// cluster's record, else the cache's) with the same rails as a prune:
// objects carrying another sync's ownership labels or the prune-disabled
// annotation stay. The prune budget does not apply: deleting the Sync asks
// for everything it owns to go. Then the inventory record is removed, so a
// Sync created again under the same name starts afresh.
//
// The returned Outcome lists what was deleted or kept (Changes). On error the
// inventory record stays, so a retry prunes what is left.
func (r *Engine) Finalize(ctx context.Context, s *sealiftv1.Sync) (Outcome, error) {
	s.Default()
	ctx, cancel := context.WithTimeout(ctx, s.Spec.Timeout.Duration)
	defer cancel()
	var res Outcome
	mgr, err := r.manager(s)
	if err != nil {
		return res, err
	}
	old, inCluster, err := r.previousInventory(ctx, s, mgr)
	if err != nil {
		return res, fmt.Errorf("finalize %s: %w", s.Key(), err)
	}
	if s.Spec.Prune && len(old) > 0 {
		pruned, err := mgr.Prune(ctx, old, nil, deploy.PruneOptions{AllowEmpty: true, MaxPercent: deploy.Unlimited})
		if pruned != nil {
			res.Changes = pruned.Changes
		}
		if err != nil {
			return res, fmt.Errorf("finalize %s: prune: %w", s.Key(), err)
		}
	}
	if inCluster {
		if err := r.deleteInventory(ctx, s); err != nil {
			return res, fmt.Errorf("finalize %s: %w", s.Key(), err)
		}
	}
	return res, nil
}

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// deleteInventory removes the ConfigMap recording s's inventory (its
// ownership was checked when it was read).
func (r *Engine) deleteInventory(ctx context.Context, s *sealiftv1.Sync) error {
	client, err := dynamic.NewForConfig(r.RestConfig)
	if err != nil {
		return err
	}
	owner := ManagerOptions(s).Owner
	err = client.Resource(configMaps).Namespace(owner.Namespace).Delete(ctx, deploy.InventoryName(owner.Name), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete inventory of %s: %w", owner, err)
	}
	return nil
}
