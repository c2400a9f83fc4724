package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"oras.land/oras-go/v2"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/kubetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/internal/signtest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/reconcile"
	"github.com/sealift-dev/sealift/render"
)

var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &env)) }

// keyPair and newKeyPair are the shared test key pairs.
type keyPair = signtest.KeyPair

var newKeyPair = signtest.NewKeyPair

// app writes a small app (Namespace, ConfigMap, Deployment, Service) whose
// namespace is ns, so each test case touches its own objects.
func app(t *testing.T, ns, message string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
		"configmap.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: %s\ndata:\n  message: %q\n", ns, message),
		"app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.7.1
---
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: %[1]s
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 9898
`, ns),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// publish pushes dir to repo:tag and signs the digest with each signer.
func publish(t *testing.T, reg *registrytest.Registry, repoName, tag, dir string, signers ...keyPair) ocispec.Descriptor {
	t.Helper()
	return signtest.Publish(t, reg, repoName, tag, dir, time.Time{}, signers...)
}

func newSync(name, url, tag string, keys ...keyPair) *sealiftv1.Sync {
	s := &sealiftv1.Sync{
		TypeMeta:   metav1.TypeMeta{APIVersion: sealiftv1.APIVersion, Kind: sealiftv1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sealift-system"},
	}
	s.Spec.Source.URL = url
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: tag}
	s.Spec.Source.Insecure = true
	for _, k := range keys {
		s.Spec.Verify.Keys = append(s.Spec.Verify.Keys, sealiftv1.Key{PEM: string(k.PublicPEM)})
	}
	return s
}

func openCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(context.Background(), t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestReconcileAppliesSignedArtifact(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/signed", "1.0.0", app(t, "signed-app", "hello"), key)

	c := openCache(t)
	r := &reconcile.Engine{Cache: c, RestConfig: env.Config}
	s := newSync("signed", "oci://"+reg.Repo("apps/signed"), "1.0.0", key)
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if res.Digest != desc.Digest.String() {
		t.Errorf("applied digest %s, pushed %s", res.Digest, desc.Digest)
	}
	if !res.Verdict.Verified || len(res.Verdict.Signers) != 1 {
		t.Errorf("verdict %+v, want verified by one key", res.Verdict)
	}
	if len(res.Changes) != 4 {
		t.Errorf("changes %+v, want 4 objects", res.Changes)
	}

	cs := clientset(t)
	dep, err := cs.AppsV1().Deployments("signed-app").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment not applied: %v", err)
	}
	if !managedBySealift(dep.ManagedFields) {
		t.Errorf("deployment managed fields %+v: want an Apply entry for manager sealift", dep.ManagedFields)
	}
	cm, err := cs.CoreV1().ConfigMaps("signed-app").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "hello" {
		t.Fatalf("configmap: %v %v", cm, err)
	}

	ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue || s.Status.LastAppliedDigest != desc.Digest.String() {
		t.Errorf("status %+v: want Ready=True with the applied digest", s.Status)
	}
	if want := "1.0.0@" + desc.Digest.String(); s.Status.LastAppliedRevision != want || res.Revision != want {
		t.Errorf("revision: status %q, result %q, want %q", s.Status.LastAppliedRevision, res.Revision, want)
	}
	if s.Status.ServedBy != res.ServedBy || s.Status.ServedBy == "" {
		t.Errorf("status servedBy %q, result %q: want the serving repository", s.Status.ServedBy, res.ServedBy)
	}
	if h := s.Status.History; len(h) != 1 || h[0].Revision != s.Status.LastAppliedRevision || !slices.Equal(h[0].Signers, res.Verdict.Signers) {
		t.Errorf("history %+v: want one entry with the revision and signers %v", h, res.Verdict.Signers)
	}
	rev, ok, err := c.LastApplied(ctx, s.Key())
	if err != nil || !ok || rev.Manifest.Digest != desc.Digest {
		t.Errorf("cache last applied = %+v %v %v, want %s", rev, ok, err, desc.Digest)
	}

	// A second reconcile of the same digest uses the cached verdict and changes nothing.
	res, err = r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("second reconcile: %v", err)
	}
	if !res.VerdictCached {
		t.Error("second reconcile re-verified instead of using the cached verdict")
	}
	for _, ch := range res.Changes {
		if ch.Action != "unchanged" {
			t.Errorf("second reconcile changed %s (%s)", ch.Object, ch.Action)
		}
	}

	// With the registry gone, the last verified revision is re-applied from the cache.
	reg.Close()
	if err := cs.CoreV1().ConfigMaps("signed-app").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, s); err == nil || errdef.IsTerminal(err) {
		t.Errorf("online reconcile with the registry stopped: err = %v, want a transient error", err)
	}
	res, err = r.ReconcileOffline(ctx, s)
	if err != nil {
		t.Fatalf("offline reconcile: %v", err)
	}
	if res.Digest != desc.Digest.String() || !res.Offline {
		t.Errorf("offline result %+v", res)
	}
	if _, err := cs.CoreV1().ConfigMaps("signed-app").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("offline reconcile did not restore the deleted configmap: %v", err)
	}
}

func TestReconcileRefusesUnverified(t *testing.T) {
	reg := registrytest.Start(t)
	trusted := newKeyPair(t)
	other := newKeyPair(t)
	tests := map[string]struct {
		ns      string
		signers []keyPair
		want    error
	}{
		"unsigned":              {ns: "unsigned-app", want: errdef.ErrNoSignature},
		"signed by another key": {ns: "other-key-app", signers: []keyPair{other}, want: errdef.ErrSignatureInvalid},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			repoName := "apps/" + tc.ns
			desc := publish(t, reg, repoName, "1.0.0", app(t, tc.ns, "should never be applied"), tc.signers...)
			c := openCache(t)
			r := &reconcile.Engine{Cache: c, RestConfig: env.Config}
			s := newSync(tc.ns, "oci://"+reg.Repo(repoName), "1.0.0", trusted)

			_, err := r.Reconcile(ctx, s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("reconcile error = %v, want %v", err, tc.want)
			}
			if !errdef.IsTerminal(err) {
				t.Errorf("error %v should be terminal", err)
			}
			if !strings.Contains(err.Error(), desc.Digest.String()) {
				t.Errorf("error %q does not name the digest %s", err, desc.Digest)
			}
			// Nothing reached the API server ...
			_, err = clientset(t).CoreV1().Namespaces().Get(ctx, tc.ns, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("namespace %s: got %v, want NotFound", tc.ns, err)
			}
			// ... nor the cache.
			if ok, _ := c.Exists(ctx, desc); ok {
				t.Error("unverified manifest was stored in the cache")
			}
			if _, ok, _ := c.LastApplied(ctx, s.Key()); ok {
				t.Error("unverified revision recorded as applied")
			}
			stalled := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled)
			ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
			if stalled == nil || ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != sealiftv1.ReasonVerificationFailed {
				t.Errorf("conditions %+v: want Ready=False/VerificationFailed and Stalled", s.Status.Conditions)
			}
		})
	}
}

func managedBySealift(entries []metav1.ManagedFieldsEntry) bool {
	for _, e := range entries {
		if e.Manager == "sealift" && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// TestSyncCRDAcceptsExample keeps config/crd and the Sync file format in
// step: the CRD installs on a real API server and the example Sync is a
// valid object of it.
func TestSyncCRDAcceptsExample(t *testing.T) {
	ctx := context.Background()
	installCRD(t)
	mgr, err := deploy.NewManager(env.Config, deploy.ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ns := "apiVersion: v1\nkind: Namespace\nmetadata: {name: sealift-system}\n"
	example, err := os.ReadFile("../examples/podinfo/sync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ns.yaml"), []byte(ns), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sync.yaml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(ctx, dir, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.ApplyAllStaged(ctx, objs); err != nil {
		t.Fatalf("apply example Sync as a custom resource: %v", err)
	}

	// And the schema refuses what Parse refuses.
	bad := strings.Replace(string(example), "mode: enforce", "mode: maybe", 1)
	if err := os.WriteFile(filepath.Join(dir, "sync.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err = render.Render(ctx, dir, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.ApplyAllStaged(ctx, objs); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("API server accepted verify.mode=maybe: err = %v", err)
	}
}

// TestReconcileSignatureRepository: signatures kept in their own repository
// (cosign's COSIGN_REPOSITORY) count only when the Sync names that repository.
func TestReconcileSignatureRepository(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/sigrepo", "1.0.0", app(t, "sigrepo-app", "signed elsewhere"))

	sigRef, err := pull.ParseReference(reg.URL("signatures/sigrepo", "unused"))
	if err != nil {
		t.Fatal(err)
	}
	sigRepo, err := pull.NewRepository(sigRef, pull.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, sigRepo, desc, reg.Repo("apps/sigrepo"), key.Signer); err != nil {
		t.Fatal(err)
	}

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("sigrepo", "oci://"+reg.Repo("apps/sigrepo"), "1.0.0", key)
	if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrNoSignature) {
		t.Fatalf("without signatureRepository: err = %v, want ErrNoSignature", err)
	}
	s.Spec.Verify.SignatureRepository = "oci://" + reg.Repo("signatures/sigrepo")
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("with signatureRepository: %v", err)
	}
	if res.Digest != desc.Digest.String() || !res.Verdict.Verified {
		t.Errorf("result %+v", res)
	}
}

func TestReconcileRefusesImpossiblePolicies(t *testing.T) {
	tests := map[string]func(s *sealiftv1.Sync){
		"no keys or identities in enforce mode": func(s *sealiftv1.Sync) {},
		"identities without a trusted root": func(s *sealiftv1.Sync) {
			s.Spec.Verify.Identities = []sealiftv1.Identity{{Issuer: "https://issuer.example", Subject: "ci@example.com"}}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
			s := newSync("policy", "oci://127.0.0.1:1/apps/none", "1.0.0")
			mutate(s)
			_, err := r.Reconcile(context.Background(), s)
			if !errors.Is(err, errdef.ErrPolicyViolation) {
				t.Fatalf("err = %v, want ErrPolicyViolation", err)
			}
		})
	}
}

// TestReconcileMirrorsAndSemver: an air-gapped cluster reads from its
// mirror when the canonical registry is gone, semver picks the highest
// matching signed tag, and a mirror missing the artifact is skipped.
func TestReconcileMirrorsAndSemver(t *testing.T) {
	ctx := context.Background()
	canonical := registrytest.Start(t)
	mirror := registrytest.Start(t)
	empty := registrytest.Start(t)
	key := newKeyPair(t)

	digests := map[string]ocispec.Descriptor{}
	for _, tag := range []string{"1.0.0", "1.2.0", "2.0.0"} {
		dir := app(t, "mirrored-app", "version "+tag)
		// The same tree pushed to both registries gives the same digest, so a
		// signature made at either place is valid at the other.
		digests[tag] = publish(t, canonical, "apps/mirrored", tag, dir, key)
		if got := publish(t, mirror, "apps/mirrored", tag, dir, key); got.Digest != digests[tag].Digest {
			t.Fatalf("tag %s: mirror digest %s != canonical %s", tag, got.Digest, digests[tag].Digest)
		}
	}
	canonical.Close()

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("mirrored", "oci://"+canonical.Repo("apps/mirrored"), "", key)
	s.Spec.Source.Ref = &sealiftv1.Ref{Semver: ">=1.0.0 <2.0.0"}
	s.Spec.Source.Mirrors = []sealiftv1.Mirror{
		{URL: "oci://" + empty.Repo("apps/mirrored"), Insecure: true},
		{URL: "oci://" + mirror.Repo("apps/mirrored"), Insecure: true},
	}
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile through the mirror: %v", err)
	}
	if !res.ResolvedAtMirror || res.ResolvedBy != mirror.Repo("apps/mirrored") || res.Tag != "1.2.0" {
		t.Errorf("result %+v: want 1.2.0 resolved at the mirror, and said so", res)
	}
	if ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady); ready == nil || !strings.Contains(ready.Message, "resolved at mirror") {
		t.Errorf("Ready condition %+v does not say the mirror resolved the range", ready)
	}
	if res.Digest != digests["1.2.0"].Digest.String() {
		t.Errorf("applied %s, want 1.2.0's digest %s", res.Digest, digests["1.2.0"].Digest)
	}
	if res.ServedBy != mirror.Repo("apps/mirrored") {
		t.Errorf("served by %q, want the mirror %q", res.ServedBy, mirror.Repo("apps/mirrored"))
	}
	cm, err := clientset(t).CoreV1().ConfigMaps("mirrored-app").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "version 1.2.0" {
		t.Fatalf("configmap %v %v, want version 1.2.0", cm, err)
	}

	// No source can answer: a transient failure, nothing changes.
	mirror.Close()
	if _, err := r.Reconcile(ctx, s); err == nil || errdef.IsTerminal(err) {
		t.Errorf("every source down: err = %v, want a transient error", err)
	}
}

// TestAttackMirrorMovesAppliedTag: with the canonical registry out of
// reach, a mirror that points the Sync's tag at another signed digest (an
// older release) is refused; pinning the digest is the explicit way back.
func TestAttackMirrorMovesAppliedTag(t *testing.T) {
	ctx := context.Background()
	canonical := registrytest.Start(t)
	mirror := registrytest.Start(t)
	key := newKeyPair(t)
	current := app(t, "tag-rollback", "current")
	applied := publish(t, canonical, "apps/tagged", "stable", current, key)
	publish(t, mirror, "apps/tagged", "stable", current, key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("tag-rollback", "oci://"+canonical.Repo("apps/tagged"), "stable", key)
	s.Spec.Source.Mirrors = []sealiftv1.Mirror{{URL: "oci://" + mirror.Repo("apps/tagged"), Insecure: true}}
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != applied.Digest.String() || res.ResolvedAtMirror || res.ResolvedBy != canonical.Repo("apps/tagged") {
		t.Fatalf("first reconcile %+v: want the canonical registry's answer", res)
	}

	// The mirror's operator re-points the tag at an older signed release.
	older := publish(t, mirror, "apps/tagged", "stable", app(t, "tag-rollback", "older"), key)
	canonical.Close()
	_, err = r.Reconcile(ctx, s)
	if !errors.Is(err, errdef.ErrRollback) {
		t.Fatalf("mirror moved the tag: err = %v, want ErrRollback", err)
	}
	if ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady); ready == nil || ready.Reason != sealiftv1.ReasonRollbackRefused {
		t.Errorf("Ready condition %+v, want reason %s", ready, sealiftv1.ReasonRollbackRefused)
	}
	cm, err := clientset(t).CoreV1().ConfigMaps("tag-rollback").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "current" {
		t.Fatalf("configmap %v %v, want the current release kept", cm, err)
	}

	// An explicit rollback: pin the older digest.
	s.Spec.Source.Ref = &sealiftv1.Ref{Digest: older.Digest.String()}
	if res, err := r.Reconcile(ctx, s); err != nil || res.Digest != older.Digest.String() {
		t.Fatalf("pinned rollback: %+v, %v", res, err)
	}
}

// TestAttackMirrorRollsBackSemverSync: a mirror holding only older releases
// of a range cannot take the Sync below the version it last applied.
func TestAttackMirrorRollsBackSemverSync(t *testing.T) {
	ctx := context.Background()
	canonical := registrytest.Start(t)
	stale := registrytest.Start(t)
	key := newKeyPair(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		publish(t, canonical, "apps/ranged", v, app(t, "semver-rollback", "version "+v), key)
	}
	publish(t, stale, "apps/ranged", "1.0.0", app(t, "semver-rollback", "version 1.0.0"), key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("semver-rollback", "oci://"+canonical.Repo("apps/ranged"), "", key)
	s.Spec.Source.Ref = &sealiftv1.Ref{Semver: "^1"}
	s.Spec.Source.Mirrors = []sealiftv1.Mirror{{URL: "oci://" + stale.Repo("apps/ranged"), Insecure: true}}
	res, err := r.Reconcile(ctx, s)
	if err != nil || res.Tag != "1.1.0" || res.ResolvedAtMirror {
		t.Fatalf("canonical up: %+v, %v; want 1.1.0 from the canonical registry", res, err)
	}
	canonical.Close()
	if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrRollback) {
		t.Fatalf("stale mirror alone: err = %v, want ErrRollback", err)
	}
	cm, err := clientset(t).CoreV1().ConfigMaps("semver-rollback").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "version 1.1.0" {
		t.Fatalf("configmap %v %v, want 1.1.0 kept", cm, err)
	}
}

// TestReconcilePrunesWhatLeftTheArtifact: with prune on, an object removed
// from the artifact is deleted, the inventory is kept in the cluster, and
// applied objects carry the Sync's ownership labels.
func TestReconcilePrunesWhatLeftTheArtifact(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	v1 := app(t, "pruned-app", "v1")
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaving\n  namespace: pruned-app\ndata: {a: b}\n"
	if err := os.WriteFile(filepath.Join(v1, "leaving.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	publish(t, reg, "apps/pruned", "1", v1, key)
	publish(t, reg, "apps/pruned", "2", app(t, "pruned-app", "v2"), key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("pruned", "oci://"+reg.Repo("apps/pruned"), "1", key)
	s.Spec.Prune = true
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("reconcile v1: %v", err)
	}
	cs := clientset(t)
	cm, err := cs.CoreV1().ConfigMaps("pruned-app").Get(ctx, "leaving", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("v1 object missing: %v", err)
	}
	if cm.Labels["sealift.dev/sync-name"] != "pruned" || cm.Labels["sealift.dev/sync-namespace"] != "sealift-system" {
		t.Errorf("ownership labels %v", cm.Labels)
	}
	inv, err := cs.CoreV1().ConfigMaps("sealift-system").Get(ctx, "sealift-inventory-pruned", metav1.GetOptions{})
	if err != nil || !strings.Contains(fmt.Sprint(inv.Data), "ConfigMap/pruned-app/leaving") {
		t.Fatalf("inventory in the cluster: %v %v", inv, err)
	}

	// A budget of 10 % refuses deleting 1 of 5 objects, and keeps it.
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: "2"}
	s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxPercent: 10}
	if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Fatalf("reconcile v2 over the prune budget: err = %v, want ErrPolicyViolation", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("pruned-app").Get(ctx, "leaving", metav1.GetOptions{}); err != nil {
		t.Fatalf("object deleted despite the budget: %v", err)
	}

	s.Spec.PruneBudget = nil
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile v2: %v", err)
	}
	deleted := false
	for _, c := range res.Changes {
		if c.Object == "ConfigMap/pruned-app/leaving" && c.Action == "deleted" {
			deleted = true
		}
	}
	if !deleted {
		t.Errorf("changes %+v: want ConfigMap/pruned-app/leaving deleted", res.Changes)
	}
	if _, err := cs.CoreV1().ConfigMaps("pruned-app").Get(ctx, "leaving", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pruned object still there: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("pruned-app").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("kept object gone: %v", err)
	}
	if inv := s.Status.Inventory; inv == nil || inv.Count != 4 || slices.Contains(inv.Entries, "ConfigMap/pruned-app/leaving") {
		t.Errorf("status inventory %+v: want the 4 remaining objects, not the pruned one", inv)
	}
}

// TestReconcileDriftAndPlan: with drift: detect, a manual change to an
// applied object is reported and left alone; with correct it is taken back.
// Plan shows a new revision's changes without writing anything.
func TestReconcileDriftAndPlan(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	publish(t, reg, "apps/drift", "1", app(t, "drift-app", "from the artifact"), key)
	publish(t, reg, "apps/drift", "2", app(t, "drift-app", "next revision"), key)

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("drift", "oci://"+reg.Repo("apps/drift"), "1", key)
	s.Spec.Drift = sealiftv1.DriftDetect
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	cs := clientset(t)
	edit := func(value string) {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps("drift-app").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["message"] = value
		if _, err := cs.CoreV1().ConfigMaps("drift-app").Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	message := func() string {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps("drift-app").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["message"]
	}

	edit("edited by hand")
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	if !res.DriftChecked || !slices.Equal(res.Drifted, []string{"ConfigMap/drift-app/app-config"}) || len(res.Changes) != 0 {
		t.Errorf("detect: drifted %v, changes %v; want only the edited ConfigMap reported", res.Drifted, res.Changes)
	}
	if got := message(); got != "edited by hand" {
		t.Errorf("detect changed the object: %q", got)
	}

	// Plan of a new revision: the diff names the change, the cluster keeps its state.
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: "2"}
	res, diffs, err := r.Plan(ctx, s)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var cmDiff string
	for _, d := range diffs {
		if d.Object == "ConfigMap/drift-app/app-config" {
			cmDiff = d.Diff
		}
	}
	if !strings.Contains(cmDiff, "next revision") || res.Digest == "" {
		t.Errorf("plan diff for the ConfigMap: %q (digest %q)", cmDiff, res.Digest)
	}
	if got := message(); got != "edited by hand" {
		t.Errorf("plan wrote to the cluster: %q", got)
	}

	// correct takes the field back.
	s.Spec.Source.Ref = &sealiftv1.Ref{Tag: "1"}
	s.Spec.Drift = sealiftv1.DriftCorrect
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("correct: %v", err)
	}
	if got := message(); got != "from the artifact" {
		t.Errorf("correct left %q", got)
	}
}

// TestReconcileSuspended: a suspended Sync is neither resolved, verified nor
// applied, online or offline; the status and the cache are left as they were.
// Its source is a closed port, so any attempt to resolve it would fail.
func TestReconcileSuspended(t *testing.T) {
	ctx := context.Background()
	c := openCache(t)
	r := &reconcile.Engine{Cache: c, RestConfig: env.Config}
	s := newSync("suspended", "oci://127.0.0.1:1/apps/suspended", "1.0.0")
	s.Spec.Suspend = true
	for name, run := range map[string]func(context.Context, *sealiftv1.Sync) (reconcile.Outcome, error){
		"online": r.Reconcile, "offline": r.ReconcileOffline,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := run(ctx, s)
			if err != nil {
				t.Fatalf("reconcile of a suspended Sync: %v", err)
			}
			if !res.Suspended || res.Digest != "" || len(res.Changes) != 0 {
				t.Errorf("result %+v: want Suspended and nothing resolved or applied", res)
			}
			if len(s.Status.Conditions) != 0 || s.Status.ObservedGeneration != 0 {
				t.Errorf("status %+v: want it untouched", s.Status)
			}
			if _, ok, err := c.LastApplied(ctx, s.Key()); err != nil || ok {
				t.Errorf("cache last applied: ok=%v err=%v, want nothing recorded", ok, err)
			}
		})
	}
}

func TestControllerOnlyFields(t *testing.T) {
	s := newSync("fields", "oci://r/x", "1")
	if got := reconcile.ControllerOnlyFields(s); len(got) != 0 {
		t.Errorf("no controller-only field set, got %v", got)
	}
	s.Spec.Interval = &metav1.Duration{Duration: time.Minute}
	s.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
	s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{Name: "base"}}
	want := []string{"spec.interval", "spec.retryInterval", "spec.dependsOn"}
	if got := reconcile.ControllerOnlyFields(s); !slices.Equal(got, want) {
		t.Errorf("ControllerOnlyFields = %v, want %v", got, want)
	}
}

// TestAttackCrossRepositoryReplaySync signs an artifact for apps/team-a
// with an organisation-wide key and copies it with its signature into
// apps/team-b, as anyone who may push there can. Team B's Sync bound to its
// own repository (spec.verify.repositories) refuses it before anything is
// applied; without the binding (opt-in) it still passes.
func TestAttackCrossRepositoryReplaySync(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	orgKey := newKeyPair(t)
	desc := publish(t, reg, "apps/team-a", "1.0.0", app(t, "replay-app", "team a's manifests"), orgKey)
	_, teamA := reg.Repository(t, "apps/team-a", "1.0.0")
	_, teamB := reg.Repository(t, "apps/team-b", "1.0.0")
	for _, ref := range []string{"1.0.0", cosignfmt.LegacySignatureTag(desc.Digest)} {
		if _, err := oras.Copy(ctx, teamA, ref, teamB, ref, oras.DefaultCopyOptions); err != nil {
			t.Fatalf("copy %s to team-b: %v", ref, err)
		}
	}

	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	s := newSync("team-b", "oci://"+reg.Repo("apps/team-b"), "1.0.0", orgKey)
	s.Spec.Verify.Repositories = []string{reg.Repo("apps/team-b")}
	if _, err := r.Reconcile(ctx, s); !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Fatalf("team b's Sync bound to its repository: err = %v, want ErrPolicyViolation", err)
	}
	if _, err := clientset(t).CoreV1().Namespaces().Get(ctx, "replay-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace of the replayed artifact: %v, want NotFound", err)
	}

	// Opt-in: without the binding the copy verifies, as before.
	s = newSync("team-b", "oci://"+reg.Repo("apps/team-b"), "1.0.0", orgKey)
	res, err := r.Reconcile(ctx, s)
	if err != nil || !res.Verdict.Verified {
		t.Fatalf("team b's Sync without a binding: %+v, %v", res, err)
	}
}

// TestReconcileSkipsAnUntouchedRevision: with Engine.Untouched saying the
// applied objects did not change, a reconcile that resolves to the revision
// last applied, for the generation handled, renders and applies nothing (a
// hand edit stays); when Untouched says otherwise, or the Sync's generation
// moved, the revision is applied again and the edit is corrected.
func TestReconcileSkipsAnUntouchedRevision(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	key := newKeyPair(t)
	desc := publish(t, reg, "apps/untouched", "1.0.0", app(t, "untouched-app", "hello"), key)
	c := openCache(t)
	untouched := true
	var asked []string
	r := &reconcile.Engine{Cache: c, RestConfig: env.Config, Untouched: func(sync string, inventory []string, since time.Time) bool {
		asked = append(asked, fmt.Sprintf("%s %d %v", sync, len(inventory), since.IsZero()))
		return untouched
	}}
	s := newSync("untouched", "oci://"+reg.Repo("apps/untouched"), "1.0.0", key)
	s.Generation = 1
	first, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if first.Unchanged || len(asked) != 0 {
		t.Fatalf("first reconcile: unchanged %v, Untouched asked %v; want a full apply without asking", first.Unchanged, asked)
	}
	cs := clientset(t)
	edit := func(message string) {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps("untouched-app").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["message"] = message
		if _, err := cs.CoreV1().ConfigMaps("untouched-app").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	message := func() string {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps("untouched-app").Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["message"]
	}
	edit("edited")

	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("untouched reconcile: %v", err)
	}
	want := fmt.Sprintf("%s %d false", s.Key(), len(first.Inventory))
	if !res.Unchanged || len(res.Changes) != 0 || !slices.Equal(res.Inventory, first.Inventory) || res.Digest != desc.Digest.String() {
		t.Errorf("untouched reconcile: unchanged %v, changes %v, inventory %v (want %v), digest %s", res.Unchanged, res.Changes, res.Inventory, first.Inventory, res.Digest)
	}
	if len(asked) != 1 || asked[0] != want {
		t.Errorf("Untouched asked %v, want [%s]", asked, want)
	}
	if got := message(); got != "edited" {
		t.Errorf("message %q after an untouched reconcile, want the edit left alone (nothing applied)", got)
	}
	if ready := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue ||
		s.Status.Inventory == nil || s.Status.Inventory.Count != len(first.Inventory) || len(s.Status.History) != 1 {
		t.Errorf("status after an untouched reconcile %+v: want it as the apply left it", s.Status)
	}

	s.Generation = 2 // the spec changed
	if res, err = r.Reconcile(ctx, s); err != nil || res.Unchanged {
		t.Fatalf("reconcile of a new generation: unchanged %v, err %v; want a full apply", res.Unchanged, err)
	}
	if got := message(); got != "hello" {
		t.Errorf("message %q after a new generation, want hello", got)
	}

	edit("edited again")
	untouched = false
	if res, err = r.Reconcile(ctx, s); err != nil || res.Unchanged {
		t.Fatalf("touched reconcile: unchanged %v, err %v; want a full apply", res.Unchanged, err)
	}
	if got := message(); got != "hello" {
		t.Errorf("message %q after a touched reconcile, want hello", got)
	}
}
