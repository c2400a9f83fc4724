package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagErrorsBeforeNetwork: diff, pull and sync refuse bad flags before
// they reach a registry or the API server. Both point at a closed port
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
