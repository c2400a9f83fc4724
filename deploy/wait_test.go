package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/deploy"
)

// markDeploymentAvailable writes, through the status subresource, the status
// a deployment controller writes once a one-replica rollout is done: the
// test API server runs no controllers.
func markDeploymentAvailable(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	c := dyn(t).Resource(deployGVR).Namespace(ns)
	d, err := c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]any{
		"observedGeneration": d.GetGeneration(),
		"replicas":           int64(1), "updatedReplicas": int64(1), "readyReplicas": int64(1), "availableReplicas": int64(1),
		"conditions": []any{
			map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
		},
	}
	if err := unstructured.SetNestedField(d.Object, status, "status"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}
}

func TestWait(t *testing.T) {
	tests := []struct {
		name      string
		ns        string
		available bool // the Deployment's status says the rollout is done
		wantErr   bool
	}{
		{name: "every object current", ns: "wait-ok", available: true},
		{name: "deployment never ready", ns: "wait-timeout", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t, deploy.ManagerOptions{})
			// ConfigMaps, Services, Namespaces and a custom resource without
			// conditions are Current as soon as they exist.
			objs := append(objects(t, tc.ns, appSet), objects(t, tc.ns, crdSet)[:2]...)
			cs, err := m.ApplyAllStaged(ctx, objs)
			if err != nil {
				t.Fatal(err)
			}
			if tc.available {
				markDeploymentAvailable(t, tc.ns, "web")
			}
			err = m.Wait(ctx, cs.Inventory(), deploy.WaitOptions{Timeout: 2 * time.Second, Interval: 100 * time.Millisecond})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				return
			}
			var we *deploy.WaitError
			if !errors.As(err, &we) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait err = %v, want a *WaitError wrapping the deadline", err)
			}
			if len(we.Unhealthy) != 1 || we.Unhealthy[0].Object != "Deployment/"+tc.ns+"/web" || we.Unhealthy[0].Status != "InProgress" {
				t.Errorf("unhealthy = %+v, want only Deployment/%s/web InProgress", we.Unhealthy, tc.ns)
			}
			if msg := err.Error(); !strings.Contains(msg, "Deployment/"+tc.ns+"/web is InProgress: Replicas: 0/1") {
				t.Errorf("error does not give the object and its reason: %s", msg)
			}
		})
	}
}

func TestWaitReportsMissingObjects(t *testing.T) {
	m := newManager(t, deploy.ManagerOptions{})
	inv := deploy.NewInventory(deploy.ObjectRef{Kind: "ConfigMap", Namespace: "default", Name: "never-applied"})
	err := m.Wait(context.Background(), inv, deploy.WaitOptions{Timeout: 500 * time.Millisecond, Interval: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/default/never-applied is NotFound") {
		t.Fatalf("Wait = %v, want the missing ConfigMap named as NotFound", err)
	}
}
