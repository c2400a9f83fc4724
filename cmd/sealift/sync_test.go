package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
)

// TestSyncOnceCommand walks the CLI journey: key generate, push --sign,
// sync --once (exit 0, objects on the API server), an unsigned push refused
// with the cluster unchanged, and an offline re-apply from the cache.
func TestSyncOnceCommand(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "cli-test")
	ctx := context.Background()
	reg := registrytest.Start(t)
	work := t.TempDir()
	cacheDir := filepath.Join(work, "cache")

	if out, err := runCLI(t, "key", "generate", "--output-dir", work); err != nil {
		t.Fatalf("key generate: %v\n%s", err, out)
	}
	manifests := filepath.Join(work, "manifests")
	writeApp(t, manifests, "cli-sync", "signed")
	if out, err := runCLI(t, "push", manifests, reg.URL("apps/cli", "1.0.0"), "--insecure", "--sign", "--key", filepath.Join(work, "cosign.key")); err != nil {
		t.Fatalf("push --sign: %v\n%s", err, out)
	}
	writeSync(t, filepath.Join(work, "sync.yaml"), reg.Repo("apps/cli"), "1.0.0")

	syncArgs := func(file string, extra ...string) []string {
		return append([]string{"sync", "--once", "-f", filepath.Join(work, file), "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", cacheDir}, extra...)
	}
	out, err := runCLI(t, syncArgs("sync.yaml")...)
	if err != nil {
		t.Fatalf("sync --once: %v\n%s", err, out)
	}
	for _, want := range []string{"created    Namespace/cli-sync", "created    ConfigMap/cli-sync/app-config", "verified by: [sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync output lacks %q:\n%s", want, out)
		}
	}
	cs, err := kubernetes.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("cli-sync").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "signed" {
		t.Fatalf("configmap after sync: %v %v", cm.Data, err)
	}

	// diff of the same Sync, from its verified artifact: nothing to change.
	out, err = runCLI(t, "diff", "-f", filepath.Join(work, "sync.yaml"), "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", cacheDir)
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	if !strings.Contains(out, "verified sha256:") || !strings.Contains(out, "unchanged ConfigMap/cli-sync/app-config") {
		t.Errorf("diff output:\n%s", out)
	}

	// An unsigned revision is refused; the cluster keeps the signed one.
	writeApp(t, manifests, "cli-sync", "unsigned")
	if out, err := runCLI(t, "push", manifests, reg.URL("apps/cli", "1.0.1"), "--insecure"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	writeSync(t, filepath.Join(work, "unsigned.yaml"), reg.Repo("apps/cli"), "1.0.1")
	out, err = runCLI(t, syncArgs("unsigned.yaml", "-o", "json")...)
	if !errors.Is(err, errdef.ErrNoSignature) {
		t.Fatalf("sync of an unsigned artifact: err = %v, want ErrNoSignature\n%s", err, out)
	}
	var report struct {
		Digest string `json:"digest"`
		Status struct {
			Conditions []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-o json output on failure is not JSON: %v\n%s", err, out)
	}
	if report.Digest == "" || len(report.Status.Conditions) == 0 || report.Status.Conditions[0].Reason != "VerificationFailed" {
		t.Errorf("failure report %+v: want the digest and a VerificationFailed condition", report)
	}
	cm, err = cs.CoreV1().ConfigMaps("cli-sync").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil || cm.Data["message"] != "signed" {
		t.Fatalf("configmap after refused sync: %v %v (want the signed value kept)", cm.Data, err)
	}

	// Offline: the cache alone re-applies the last verified revision.
	if err := cs.CoreV1().ConfigMaps("cli-sync").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	out, err = runCLI(t, syncArgs("sync.yaml", "--offline")...)
	if err != nil {
		t.Fatalf("sync --once --offline: %v\n%s", err, out)
	}
	if !strings.Contains(out, "from cache (offline)") || !strings.Contains(out, "created    ConfigMap/cli-sync/app-config") {
		t.Errorf("offline output:\n%s", out)
	}

	// Without --offline and with every source down, the cached revision is
	// re-applied all the same (drift corrected), and the exit status says
	// the source was unavailable.
	if err := cs.CoreV1().ConfigMaps("cli-sync").Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, syncArgs("sync.yaml")...)
	var unavailable *reconcile.SourceUnavailableError
	if !errors.As(err, &unavailable) || exitCode(err) != exitSourceUnavailable {
		t.Fatalf("sync with the registry down: err = %v (exit %d), want SourceUnavailableError and exit %d\n%s", err, exitCode(err), exitSourceUnavailable, out)
	}
	if !strings.Contains(out, "from cache (offline)") || !strings.Contains(err.Error(), unavailable.Digest) || unavailable.Digest == "" {
		t.Errorf("output with the registry down does not name the cached revision applied:\n%s\nerr: %v", out, err)
	}
	if _, err := cs.CoreV1().ConfigMaps("cli-sync").Get(ctx, "app-config", metav1.GetOptions{}); err != nil {
		t.Errorf("sync with the registry down did not correct the deleted configmap: %v", err)
	}
}

// TestSyncOnceSuspended: a suspended Sync is not applied by sync --once,
// which says so and exits 0; the fields only the controller reads are noted
// on stderr, not silently ignored. The source is a closed port, so any
// attempt to resolve it would fail the command.
func TestSyncOnceSuspended(t *testing.T) {
	work := t.TempDir()
	doc := `apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata: {name: paused, namespace: sealift-system}
spec:
  source: {url: "oci://127.0.0.1:1/apps/paused", ref: {tag: "1.0.0"}, insecure: true}
  verify: {mode: audit}
  suspend: true
  interval: 5m
  dependsOn: [{name: base}]
`
	file := filepath.Join(work, "sync.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"sync", "--once", "-f", file, "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", filepath.Join(work, "cache")}
	out, errOut, err := execute(t, args...)
	if err != nil {
		t.Fatalf("sync --once of a suspended Sync: %v\n%s%s", err, out, errOut)
	}
	if want := "sync sealift-system/paused: suspended (spec.suspend: true): nothing resolved, verified or applied"; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	if want := "note: sync --once ignores spec.interval, spec.dependsOn (read by the in-cluster controller only)"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}

	out, _, err = execute(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("sync --once -o json of a suspended Sync: %v\n%s", err, out)
	}
	var report struct {
		Suspended bool   `json:"suspended"`
		Digest    string `json:"digest"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-o json output is not JSON: %v\n%s", err, out)
	}
	if !report.Suspended || report.Digest != "" {
		t.Errorf("json report %+v: want suspended and no digest", report)
	}
}

func TestSyncFlagErrors(t *testing.T) {
	tests := map[string][]string{
		"no --once":      {"sync", "-f", "x.yaml"},
		"no file":        {"sync", "--once"},
		"missing file":   {"sync", "--once", "-f", filepath.Join(t.TempDir(), "absent.yaml")},
		"bad output":     {"sync", "--once", "-f", "x.yaml", "-o", "xml"},
		"unexpected arg": {"sync", "--once", "-f", "x.yaml", "extra"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if out, err := runCLI(t, args...); err == nil {
				t.Errorf("%v succeeded:\n%s", args, out)
			}
		})
	}
}

func writeApp(t *testing.T, dir, ns, message string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	docs := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %[1]s\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  namespace: %[1]s\ndata:\n  message: %[2]q\n", ns, message)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSync(t *testing.T, path, repo, tag string) {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata:
  name: cli
  namespace: sealift-system
spec:
  source:
    url: oci://%s
    ref: {tag: %q}
    insecure: true
  verify:
    keys:
      - path: ./cosign.pub
`, repo, tag)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}
