package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagErrorsBeforeNetwork: diff, pull, sync and the operator's commands
// (create, get, reconcile, suspend, resume, tree, events, version) refuse
// bad flags before they reach a registry or the API server. Both point at
// a closed port
// (127.0.0.1:1), so a command that went out before checking its flags fails
// with a connection error instead of one naming the flag.
func TestFlagErrorsBeforeNetwork(t *testing.T) {
	work := t.TempDir()
	kubeconfig := filepath.Join(work, "kubeconfig")
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: closed\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: closed\n  context: {cluster: closed, user: u}\ncurrent-context: closed\nusers:\n- name: u\n  user: {token: t}\n"
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	syncFile := filepath.Join(work, "sync.yaml")
	doc := "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: flags, namespace: default}\nspec:\n  source: {url: \"oci://127.0.0.1:1/apps/flags\", ref: {tag: \"1.0.0\"}, insecure: true}\n  verify: {mode: audit}\n"
	if err := os.WriteFile(syncFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	manifests := filepath.Join(work, "manifests")
	writeApp(t, manifests, "flags", "v1")
	pub := writeTestPub(t)
	notEmpty := filepath.Join(work, "not-empty")
	if err := os.MkdirAll(notEmpty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(notEmpty, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	target := "oci://127.0.0.1:1/apps/flags:1.0.0"
	out := func() string { return filepath.Join(t.TempDir(), "out") }
	kube := []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(work, "cache")}
	diff := func(extra ...string) []string {
		return append(append([]string{"diff", "-f", syncFile}, kube...), extra...)
	}
	syncCmd := func(extra ...string) []string {
		return append(append([]string{"sync", "--once", "-f", syncFile}, kube...), extra...)
	}

	tests := []struct {
		name string
		args []string
		want string // the flag the error must name
	}{
		{"diff bad output", diff("-o", "xml"), "-o"},
		{"diff bad creds", diff("--creds", "nopassword"), "--creds"},
		{"diff --dir bad creds", diff("--dir", manifests, "--creds", "nopassword"), "--creds"},
		{"diff --dir insecure with ca", diff("--dir", manifests, "--insecure", "--ca-file", "ca.pem"), "--insecure"},
		{"diff --dir cert without key", diff("--dir", manifests, "--cert-file", "c.pem"), "--cert-file"},
		{"diff no file", []string{"diff", "--dir", manifests, "--kubeconfig", kubeconfig}, "-f"},
		{"sync bad creds", syncCmd("--creds", ":pw"), "--creds"},
		{"sync creds and registry config", syncCmd("--creds", "u:p", "--registry-config", "c.json"), "--registry-config"},
		{"sync bad output", syncCmd("-o", "yaml"), "-o"},
		{"pull no output", []string{"pull", target}, "-o"},
		{"pull bad creds", []string{"pull", target, "-o", out(), "--creds", "x"}, "--creds"},
		{"pull threshold above keys", []string{"pull", target, "-o", out(), "--key", pub, "--threshold", "2"}, "--threshold"},
		{"pull threshold zero", []string{"pull", target, "-o", out(), "--key", pub, "--threshold", "0"}, "--threshold"},
		{"pull threshold without key", []string{"pull", target, "-o", out(), "--threshold", "2"}, "--threshold"},
		{"pull bad signature repository", []string{"pull", target, "-o", out(), "--key", pub, "--signature-repository", "127.0.0.1:1/sigs:tag"}, "--signature-repository"},
		{"pull semver with tag", []string{"pull", target, "-o", out(), "--semver", "*"}, "--semver"},
		{"pull semver filter alone", []string{"pull", "oci://127.0.0.1:1/apps/flags", "-o", out(), "--semver-filter", "x"}, "--semver-filter"},
		{"pull bad semver", []string{"pull", "oci://127.0.0.1:1/apps/flags", "-o", out(), "--semver", "one"}, "--semver"},
		{"pull into non-empty dir", []string{"pull", target, "-o", notEmpty}, "-o " + notEmpty},
		{"create sync no ref", []string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--url", "oci://127.0.0.1:1/apps/flags", "--key-secret", "k"}, "--tag, --semver and --digest"},
		{"create sync no key", []string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--url", "oci://127.0.0.1:1/apps/flags", "--tag", "1"}, "--key-secret"},
		{"get syncs bad output", []string{"get", "syncs", "--kubeconfig", kubeconfig, "-o", "xml"}, "-o"},
		{"get syncs -A and -n", []string{"get", "syncs", "--kubeconfig", kubeconfig, "-A", "-n", "apps"}, "--all-namespaces"},
		{"get syncs -A with a name", []string{"get", "syncs", "app", "--kubeconfig", kubeconfig, "-A"}, "--all-namespaces"},
		{"get syncs bad namespace", []string{"get", "syncs", "--kubeconfig", kubeconfig, "-n", "Apps"}, "--namespace"},
		{"reconcile no name", []string{"reconcile", "sync", "--kubeconfig", kubeconfig}, "NAME"},
		{"reconcile zero timeout", []string{"reconcile", "sync", "app", "--kubeconfig", kubeconfig, "--timeout", "0s"}, "--timeout"},
		{"reconcile bad namespace", []string{"reconcile", "sync", "app", "--kubeconfig", kubeconfig, "-n", "a/b"}, "--namespace"},
		{"resume negative timeout", []string{"resume", "sync", "app", "--kubeconfig", kubeconfig, "--timeout", "-1s"}, "--timeout"},
		{"resume no name", []string{"resume", "sync", "--kubeconfig", kubeconfig}, "NAME"},
		{"suspend bad namespace", []string{"suspend", "sync", "app", "--kubeconfig", kubeconfig, "-n", "_"}, "--namespace"},
		{"suspend two names", []string{"suspend", "sync", "a", "b", "--kubeconfig", kubeconfig}, "NAME"},
		{"tree bad output", []string{"tree", "sync", "app", "--kubeconfig", kubeconfig, "-o", "yaml"}, "-o"},
		{"tree bad namespace", []string{"tree", "sync", "app", "--kubeconfig", kubeconfig, "-n", "Apps"}, "--namespace"},
		{"events -A with a name", []string{"events", "sync", "app", "--kubeconfig", kubeconfig, "-A"}, "--all-namespaces"},
		{"events bad namespace", []string{"events", "--kubeconfig", kubeconfig, "-n", "Apps"}, "--namespace"},
		{"version bad output", []string{"version", "--kubeconfig", kubeconfig, "-o", "yaml"}, "-o"},
		{"version bad namespace", []string{"version", "--kubeconfig", kubeconfig, "-n", "Apps"}, "--namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(t, tc.args...)
			if err == nil {
				t.Fatalf("%v succeeded:\n%s", tc.args, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %q does not name %s", tc.args, err, tc.want)
			}
			if strings.Contains(err.Error(), "connect") {
				t.Errorf("%v: went to the network before checking its flags: %v", tc.args, err)
			}
		})
	}
}
