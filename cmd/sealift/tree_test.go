package main

import (
	"strings"
	"testing"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// TestTreeFromStatus: without the inventory ConfigMap (a Sync applied by
// an older engine, or the record lost), tree shows status.inventory and
// says so; a Sync that applied nothing shows an empty tree.
func TestTreeFromStatus(t *testing.T) {
	withCRD(t)
	const ns = "ops-tree"
	makeNamespace(t, ns)
	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	for _, name := range []string{"listed", "empty"} {
		if out, err := run(t, append([]string{"create", "sync", name, "--url", "oci://registry.example.com/apps/x", "--tag", "1", "--key-secret", "k"}, kube...)...); err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
	}
	writeStatus(t, ns, "listed", sealiftv1.SyncStatus{
		LastAppliedRevision: "1@sha256:" + strings.Repeat("b", 64),
		Inventory: &sealiftv1.InventoryStatus{Count: 4, Entries: []string{
			"Deployment.apps/web/frontend", "ConfigMap/web/settings", "ClusterRole.rbac.authorization.k8s.io/reader", "Deployment.apps/web/backend",
		}},
	})
	out, err := runCLI(t, append([]string{"tree", "sync", "listed"}, kube...)...)
	if err != nil {
		t.Fatalf("tree: %v\n%s", err, out)
	}
	want := "Sync/ops-tree/listed  revision 1@sha256:" + strings.Repeat("b", 64) + "  (4 objects, from status.inventory)\n" +
		"├── (cluster-scoped)\n" +
		"│   └── ClusterRole.rbac.authorization.k8s.io\n" +
		"│       └── reader\n" +
		"└── web\n" +
		"    ├── ConfigMap\n" +
		"    │   └── settings\n" +
		"    └── Deployment.apps\n" +
		"        ├── backend\n" +
		"        └── frontend\n"
	if out != want {
		t.Errorf("tree:\n%s\nwant:\n%s", out, want)
	}

	out, err = runCLI(t, append([]string{"tree", "sync", "empty"}, kube...)...)
	if err != nil || out != "Sync/ops-tree/empty  (0 objects, from status.inventory)\n└── (nothing applied)\n" {
		t.Errorf("tree of a Sync that applied nothing: %v\n%s", err, out)
	}
}
