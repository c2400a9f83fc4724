package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
)

// TestAttackOfflineReapplyAfterKeyRemoved: a key is found compromised and
// removed from the Sync; an offline re-apply must not bring back what that key
// signed, even though the cache holds it with a verified verdict.
func TestAttackOfflineReapplyAfterKeyRemoved(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	compromised, replacement := newKeyPair(t), newKeyPair(t)
	publish(t, reg, "apps/revoked", "1.0.0", app(t, "revoked-app", "signed by a key later revoked"), compromised)
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("revoked", "oci://"+reg.Repo("apps/revoked"), "1.0.0", compromised)
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	cs := clientset(t)
	if err := cs.CoreV1().ConfigMaps("revoked-app").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// The operator replaces the compromised key; the registry is unreachable.
	reg.Close()
	revoked := newSync("revoked", s.Spec.Source.URL, "1.0.0", replacement)
	_, err := r.ReconcileOffline(ctx, revoked)
	if !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Fatalf("offline reconcile under the new policy: err = %v, want ErrPolicyViolation", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("revoked-app").Get(ctx, "app-config", metav1.GetOptions{}); err == nil {
		t.Error("the revision signed by the removed key was re-applied offline")
	}

	// The policy that verified it still re-applies it.
	if _, err := r.ReconcileOffline(ctx, s); err != nil {
		t.Fatalf("offline reconcile under the original policy: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("revoked-app").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("offline reconcile under the original policy did not restore the configmap: %v", err)
	}
}

// TestAttackOfflineReapplyFromAnotherSource: a Sync re-pointed at another
// repository must not re-apply the revision its old repository served.
func TestAttackOfflineReapplyFromAnotherSource(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	publish(t, reg, "apps/old-source", "1.0.0", app(t, "old-source-app", "from the old repository"), key)
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("moved", "oci://"+reg.Repo("apps/old-source"), "1.0.0", key)
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	moved := newSync("moved", "oci://"+reg.Repo("apps/new-source"), "1.0.0", key)
	_, err := r.ReconcileOffline(ctx, moved)
	if !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Fatalf("offline reconcile of a Sync pointed elsewhere: err = %v, want ErrPolicyViolation", err)
	}
}

// TestReconcileAuditWithoutKeysApplies: the hint for an enforce-mode Sync
// without keys says "set mode: audit"; such a Sync must then apply, reported
// as unverified, instead of being refused by the verifier.
func TestReconcileAuditWithoutKeysApplies(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	desc := publish(t, reg, "apps/audit", "1.0.0", app(t, "audit-app", "audited"))
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("audit", "oci://"+reg.Repo("apps/audit"), "1.0.0")
	s.Spec.Verify.Mode = sealiftv1.VerifyAudit
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile in audit mode without keys: %v", err)
	}
	if res.Digest != desc.Digest.String() || res.Verdict.Verified || res.Verdict.Reason == "" {
		t.Errorf("result %+v: want the digest applied with an unverified verdict and a reason", res)
	}
	if _, err := clientset(t).CoreV1().ConfigMaps("audit-app").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("audit-mode Sync did not apply: %v", err)
	}
}

// TestReconcileFallsBackToCacheWhenSourceUnavailable: with every source down,
// Reconcile re-applies the last verified revision from the cache (so a hand
// deletion is still corrected), keeps Ready True with a message naming the
// error and the revision, and returns a SourceUnavailableError.
func TestReconcileFallsBackToCacheWhenSourceUnavailable(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/outage", "1.0.0", app(t, "outage-app", "kept through the outage"), key)
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("outage", "oci://"+reg.Repo("apps/outage"), "1.0.0", key)
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	cs := clientset(t)
	if err := cs.CoreV1().ConfigMaps("outage-app").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	res, err := r.Reconcile(ctx, s)
	var unavailable *reconcile.SourceUnavailableError
	if !errors.As(err, &unavailable) || errdef.IsTerminal(err) {
		t.Fatalf("reconcile with the registry down: err = %v, want a transient SourceUnavailableError", err)
	}
	if unavailable.Digest != desc.Digest.String() || !res.Offline || res.SourceError == "" {
		t.Errorf("result %+v, error %+v: want the cached digest %s re-applied offline with the source error", res, unavailable, desc.Digest)
	}
	if _, err := cs.CoreV1().ConfigMaps("outage-app").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("drift not corrected from the cache with the registry down: %v", err)
	}
	ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != sealiftv1.ReasonSourceUnavailable ||
		!strings.Contains(ready.Message, desc.Digest.String()) {
		t.Errorf("Ready = %+v: want True/SourceUnavailable naming the revision in use", ready)
	}
}
