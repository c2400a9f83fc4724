package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/reconcile"
	"github.com/sealift-dev/sealift/render"
)

func TestDiffCommand(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	manifests := filepath.Join(work, "manifests")
	writeApp(t, manifests, "cli-diff", "v1")
	syncFile := filepath.Join(work, "sync.yaml")
	doc := "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: differ\n  namespace: default\nspec:\n  source:\n    url: oci://registry.example/apps/differ\n  prune: true\n"
	if err := os.WriteFile(syncFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	diffArgs := []string{"diff", "-f", syncFile, "--dir", manifests, "--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", filepath.Join(work, "cache")}

	out, err := runCLI(t, diffArgs...)
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, out)
	}
	for _, want := range []string{"create    Namespace/cli-diff", "create    ConfigMap/cli-diff/app-config", "+  message: v1", "2 to create, 0 to update"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	cs, err := kubernetes.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "cli-diff", metav1.GetOptions{}); err == nil {
		t.Fatal("diff created the namespace")
	}

	// Apply as the sync would, then edit the ConfigMap by hand.
	s, err := sealiftv1.LoadFile(syncFile)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Render(ctx, manifests, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := deploy.NewManager(kubeEnv.Config, reconcile.ManagerOptions(s))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteInventory(ctx, applied.Inventory()); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("cli-diff").Patch(ctx, "app-config", types.MergePatchType,
		[]byte(`{"data":{"message":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	out, err = runCLI(t, append(diffArgs, "-o", "json")...)
	if err != nil {
		t.Fatalf("diff -o json: %v\n%s", err, out)
	}
	var got struct {
		Sync    string              `json:"sync"`
		Objects []deploy.ObjectDiff `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	actions := map[string]deploy.DiffAction{}
	for _, d := range got.Objects {
		actions[d.Object] = d.Action
		if d.Object == "ConfigMap/cli-diff/app-config" && !strings.Contains(d.Diff, "-  message: edited\n+  message: v1") {
			t.Errorf("update diff:\n%s", d.Diff)
		}
	}
	if got.Sync != "default/differ" || actions["Namespace/cli-diff"] != deploy.DiffUnchanged || actions["ConfigMap/cli-diff/app-config"] != deploy.DiffUpdate {
		t.Errorf("diff -o json = %s", out)
	}
}

// TestDiffDirAgreesOnDeletesWithoutClusterInventory: when the cluster's
// inventory ConfigMap is gone but the cache recorded the inventory with the
// last sync, diff (from the artifact) and diff --dir (from the same
// manifests on disk) report the same deletes, as sync would prune them.
// diff --dir used to read the cluster's inventory only, and saw none.
func TestDiffDirAgreesOnDeletesWithoutClusterInventory(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "cli-test")
	ctx := context.Background()
	reg := registrytest.Start(t)
	work := t.TempDir()
	cacheDir := filepath.Join(work, "cache")
	if out, err := runCLI(t, "key", "generate", "--output-dir", work); err != nil {
		t.Fatalf("key generate: %v\n%s", err, out)
	}
	key := filepath.Join(work, "cosign.key")
	manifests := filepath.Join(work, "manifests")
	writeApp(t, manifests, "cli-plan", "v1")
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaving\n  namespace: cli-plan\ndata:\n  k: v\n"
	if err := os.WriteFile(filepath.Join(manifests, "leaving.yaml"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "push", manifests, reg.URL("apps/plan", "1.0.0"), "--insecure", "--sign", "--key", key); err != nil {
		t.Fatalf("push 1.0.0: %v\n%s", err, out)
	}
	writePruneSync := func(tag string) string {
		t.Helper()
		path := filepath.Join(work, "sync-"+tag+".yaml")
		doc := fmt.Sprintf("apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: planner\n  namespace: sealift-system\nspec:\n  source:\n    url: oci://%s\n    ref: {tag: %q}\n    insecure: true\n  prune: true\n  verify:\n    keys:\n      - path: ./cosign.pub\n", reg.Repo("apps/plan"), tag)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "--cache-dir", cacheDir}
	if out, err := runCLI(t, append([]string{"sync", "--once", "-f", writePruneSync("1.0.0")}, kube...)...); err != nil {
		t.Fatalf("sync --once: %v\n%s", err, out)
	}

	// 1.0.1 drops the ConfigMap "leaving"; the cluster loses the inventory
	// ConfigMap, so only the cache still knows what the Sync applied.
	if err := os.Remove(filepath.Join(manifests, "leaving.yaml")); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "push", manifests, reg.URL("apps/plan", "1.0.1"), "--insecure", "--sign", "--key", key); err != nil {
		t.Fatalf("push 1.0.1: %v\n%s", err, out)
	}
	cs, err := kubernetes.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("sealift-system").Delete(ctx, deploy.InventoryName("planner"), metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the inventory ConfigMap: %v", err)
	}
	syncFile := writePruneSync("1.0.1")

	deletes := func(args ...string) []string {
		t.Helper()
		out, err := runCLI(t, append(append([]string{"diff", "-f", syncFile, "-o", "json"}, kube...), args...)...)
		if err != nil {
			t.Fatalf("diff %v: %v\n%s", args, err, out)
		}
		var got struct {
			Objects []deploy.ObjectDiff `json:"objects"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("diff %v output: %v\n%s", args, err, out)
		}
		var del []string
		for _, d := range got.Objects {
			if d.Action == deploy.DiffDelete {
				del = append(del, d.Object)
			}
		}
		return del
	}
	fromArtifact := deletes()
	fromDir := deletes("--dir", manifests)
	want := []string{"ConfigMap/cli-plan/leaving"}
	if !slices.Equal(fromArtifact, want) {
		t.Errorf("diff deletes %v, want %v", fromArtifact, want)
	}
	if !slices.Equal(fromDir, fromArtifact) {
		t.Errorf("diff --dir deletes %v, diff deletes %v: they must agree", fromDir, fromArtifact)
	}
}
