package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/internal/controller"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/internal/signtest"
)

// TestOperatorJourney runs the operator's commands against the controller
// running in this process and a signed artifact in the in-process
// registry: create, reconcile (Ready, exit 0), get, tree, events, suspend
// (reconcile refused), resume (reconciled, Ready), and an unsigned revision
// (Stalled, non-zero exit, the applied revision kept).
func TestOperatorJourney(t *testing.T) {
	withCRD(t)
	const ns, appNS, name = "ops-journey", "ops-journey-app", "journey"
	makeNamespace(t, ns)
	reg := registrytest.Start(t)
	key := signtest.NewKeyPair(t)
	signed := signtest.Publish(t, reg, "apps/journey", "1.0.0", manifestsDir(t, appNS, "one", "two"), time.Time{}, key)
	keySecret(t, ns, "cosign-pub", key.PublicPEM)
	runController(t, ns)
	// Cleanups run last-in first-out: the Sync goes while the controller
	// still runs to release its finalizer, so no Sync outlives the test
	// holding one that nothing would remove.
	t.Cleanup(func() { deleteSync(t, ns, name) })

	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	cli := func(args ...string) (string, error) { return runCLI(t, append(args, kube...)...) }
	create := func(tag string) {
		t.Helper()
		if out, err := cli("create", "sync", name, "--url", "oci://"+reg.Repo("apps/journey"), "--tag", tag,
			"--key-secret", "cosign-pub", "--insecure", "--prune"); err != nil {
			t.Fatalf("create sync --tag %s: %v\n%s", tag, err, out)
		}
	}
	create("1.0.0")
	revision := "1.0.0@" + signed.Digest.String()

	// reconcile: waits for the controller to handle the request, then
	// reports the revision; exit 0.
	stdout, stderr, err := execute(t, append([]string{"reconcile", "sync", name}, kube...)...)
	if err != nil {
		t.Fatalf("reconcile sync: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("reconcile sync:\n%s%s", stderr, stdout)
	if !strings.Contains(stdout, "✔ Sync ops-journey/journey is Ready: revision "+revision) || !strings.Contains(stdout, "(3 objects)") {
		t.Errorf("reconcile output:\n%s", stdout)
	}
	s := readSync(t, ns, name)
	requested := s.Annotations[sealiftv1.ReconcileRequestAnnotation]
	if requested == "" || s.Status.LastHandledReconcileAt != requested || !strings.Contains(stderr, requested) {
		t.Errorf("annotation %q, lastHandledReconcileAt %q, progress:\n%s", requested, s.Status.LastHandledReconcileAt, stderr)
	}

	// get: the row the controller's status makes.
	out, err := cli("get", "syncs")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("get syncs:\n%s", out)
	rows := tableRows(out)
	if len(rows) != 2 || rows[1][0] != name || rows[1][1] != "True" || rows[1][2] != "1.0.0@"+signed.Digest.String()[:len("sha256:")+shortDigestHex] ||
		!strings.HasPrefix(rows[1][3], "sha256:") || !strings.HasPrefix(rows[1][5], "applied "+signed.Digest.String()) {
		t.Errorf("get syncs:\n%s", out)
	}

	// tree: the inventory the engine keeps, by namespace and kind.
	out, err = cli("tree", "sync", name)
	if err != nil {
		t.Fatalf("tree: %v\n%s", err, out)
	}
	wantTree := "Sync/ops-journey/journey  revision " + revision + "  (3 objects, from ConfigMap ops-journey/sealift-inventory-journey)\n" +
		"├── (cluster-scoped)\n" +
		"│   └── Namespace\n" +
		"│       └── ops-journey-app\n" +
		"└── ops-journey-app\n" +
		"    └── ConfigMap\n" +
		"        ├── one\n" +
		"        └── two\n"
	if out != wantTree {
		t.Errorf("tree:\n%s\nwant:\n%s", out, wantTree)
	}
	out, err = cli("tree", "sync", name, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var tr treeResult
	if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.Source != inventoryFromCluster || len(tr.Objects) != 3 || tr.StatusCount != 3 || tr.Revision != revision {
		t.Errorf("tree -o json: %v\n%s", err, out)
	}

	// events: the controller's Applied event, for the Sync and for the
	// namespace.
	for _, args := range [][]string{{"events", "sync", name}, {"events"}} {
		out, err = cli(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		t.Logf("%v:\n%s", args, out)
		rows = tableRows(out)
		if strings.Join(rows[0], "|") != "LAST SEEN|TYPE|REASON|OBJECT|MESSAGE" {
			t.Errorf("%v header = %q", args, rows[0])
		}
		if !hasEvent(rows, "Normal", sealiftv1.ReasonApplied, "Sync/"+name, signed.Digest.String()) {
			t.Errorf("%v lacks the Applied event:\n%s", args, out)
		}
	}

	// suspend: the controller acknowledges it; reconcile is refused.
	if out, err := cli("suspend", "sync", name); err != nil {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	waitUntil(t, 30*time.Second, "the Suspended condition", func() (bool, string) {
		s := readSync(t, ns, name)
		c := apimeta.FindStatusCondition(s.Status.Conditions, controller.ConditionSuspended)
		return c != nil && c.Status == metav1.ConditionTrue, spew(s.Status)
	})
	out, err = run(t, append([]string{"reconcile", "sync", name}, kube...)...)
	if err == nil || !strings.Contains(errText(err), "Sync ops-journey/journey is suspended") || !strings.Contains(errText(err), "sealift resume sync journey -n ops-journey") {
		t.Errorf("reconcile of a suspended Sync: err = %v\n%s", err, out)
	}

	// resume: clears suspend, reconciles, reports Ready.
	out, err = cli("resume", "sync", name)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	s = readSync(t, ns, name)
	if s.Spec.Suspend || !strings.Contains(out, "is Ready: revision "+revision) || s.Status.LastHandledReconcileAt != s.Annotations[sealiftv1.ReconcileRequestAnnotation] {
		t.Errorf("after resume: suspend %v, output:\n%s", s.Spec.Suspend, out)
	}

	// An unsigned revision: Stalled, exit status 1, the signed revision
	// still the one applied.
	signtest.Publish(t, reg, "apps/journey", "2.0.0", manifestsDir(t, appNS, "one"), time.Time{})
	create("2.0.0")
	out, err = run(t, append([]string{"reconcile", "sync", name}, kube...)...)
	t.Logf("reconcile of the unsigned revision:\n%s%s", out, errText(err))
	var notReady *notReadyError
	if !errors.As(err, &notReady) || exitCode(err) != 1 {
		t.Fatalf("reconcile of an unsigned revision: err = %v (exit %d)\n%s", err, exitCode(err), out)
	}
	if notReady.State != "Stalled" || notReady.Reason != sealiftv1.ReasonVerificationFailed || notReady.Revision != revision {
		t.Errorf("not Ready: %+v", notReady)
	}
	if !strings.Contains(err.Error(), "Sync ops-journey/journey is Stalled (VerificationFailed): ") || !strings.Contains(err.Error(), "last applied revision: "+revision) {
		t.Errorf("error = %v", err)
	}
	out, err = cli("events", "sync", name)
	if err != nil || !hasEvent(tableRows(out), "Warning", sealiftv1.ReasonVerificationFailed, "Sync/"+name, "") {
		t.Errorf("events after the unsigned revision: %v\n%s", err, out)
	}
}

func hasEvent(rows [][]string, typ, reason, object, inMessage string) bool {
	for _, r := range rows[1:] {
		if r[1] == typ && r[2] == reason && r[3] == object && strings.Contains(r[4], inMessage) {
			return true
		}
	}
	return false
}

func spew(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestReconcileWithoutController: with no controller watching the
// namespace, reconcile gives up after --timeout and says what to check.
func TestReconcileWithoutController(t *testing.T) {
	withCRD(t)
	const ns = "ops-nocontroller"
	makeNamespace(t, ns)
	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	if out, err := run(t, append([]string{"create", "sync", "idle", "--url", "oci://registry.example.com/apps/idle", "--tag", "1", "--key-secret", "k"}, kube...)...); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err := run(t, append([]string{"reconcile", "sync", "idle", "--timeout", "1s"}, kube...)...)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the controller did not handle the reconcile request") ||
		!strings.Contains(errText(err), "Recommendation: check that the controller runs") {
		t.Errorf("reconcile without a controller: err = %v\n%s", err, out)
	}
	// The request stays on the Sync for the controller to pick up.
	if s := readSync(t, ns, "idle"); s.Annotations[sealiftv1.ReconcileRequestAnnotation] == "" {
		t.Error("the reconcile request annotation was not set")
	}
}

// TestCommandsOnMissingSync: each command that names a Sync says it is not
// there, and where to look.
func TestCommandsOnMissingSync(t *testing.T) {
	withCRD(t)
	const ns = "ops-missing"
	makeNamespace(t, ns)
	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	for _, args := range [][]string{
		{"get", "syncs", "ghost"},
		{"reconcile", "sync", "ghost"},
		{"suspend", "sync", "ghost"},
		{"resume", "sync", "ghost", "--timeout", "5s"},
		{"tree", "sync", "ghost"},
		{"events", "sync", "ghost"},
	} {
		out, err := run(t, append(args, kube...)...)
		if err == nil || err.Error() != `Sync "ghost" not found in namespace "ops-missing": not found` {
			t.Errorf("%v: err = %v", args, err)
		}
		if !strings.Contains(errText(err), "Recommendation: list the Syncs with 'sealift get syncs -n ops-missing'") {
			t.Errorf("%v: no recommendation:\n%s%s", args, out, errText(err))
		}
	}
}

// deleteSync deletes Sync ns/name and waits until it is gone.
func deleteSync(t *testing.T, ns, name string) {
	t.Helper()
	res := dynClient(t).Resource(syncResource).Namespace(ns)
	if err := res.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete Sync %s/%s: %v", ns, name, err)
		return
	}
	waitUntil(t, time.Minute, "Sync "+ns+"/"+name+" to be gone", func() (bool, string) {
		_, err := res.Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
}
