package v1alpha1

import "testing"

// TestReconcileRequestAnnotation: scripts, the README and `kubectl annotate`
// recipes name the annotation; it is a contract and keeps its name.
func TestReconcileRequestAnnotation(t *testing.T) {
	if ReconcileRequestAnnotation != "sealift.dev/reconcile-requested-at" {
		t.Errorf("ReconcileRequestAnnotation = %q", ReconcileRequestAnnotation)
	}
}
