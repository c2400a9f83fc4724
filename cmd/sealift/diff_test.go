package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/deploy"
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
	diffArgs := []string{"diff", "-f", syncFile, "--dir", manifests, "--kubeconfig", kubeEnv.Kubeconfig}

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
