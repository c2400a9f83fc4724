package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
)

// closedKubeconfig writes a kubeconfig whose cluster is a closed port
// (127.0.0.1:1) and whose context names namespace ns, so a command that
// goes to the network fails with a connection error.
func closedKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: closed\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: closed\n  context: {cluster: closed, user: u, namespace: \"" + ns + "\"}\ncurrent-context: closed\nusers:\n- name: u\n  user: {token: t}\n"
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCreateSyncExport: --export prints, without reaching the cluster, a
// Sync that api/v1alpha1.Parse reads back field for field and that the API
// server accepts with strict field validation (what `kubectl apply` sends).
func TestCreateSyncExport(t *testing.T) {
	// The kubeconfig's cluster is closed: export must not need it, but
	// takes its context's namespace, as kubectl would.
	kubeconfig := closedKubeconfig(t, "ops-export")
	out, err := runCLI(t, "create", "sync", "podinfo", "--kubeconfig", kubeconfig,
		"--url", "oci://registry.example.com/apps/podinfo", "--semver", ">=1.0.0 <2.0.0", "--semver-filter", `^1\.`,
		"--key-secret", "cosign-pub", "--key-secret", "cosign-pub-2", "--interval", "90s", "--path", "./deploy",
		"--prune", "--target-namespace", "apps", "--service-account", "deployer", "--depends-on", "infra,db",
		"--insecure", "--secret-ref", "regcred", "--cert-secret-ref", "registry-ca", "--export")
	if err != nil {
		t.Fatalf("create --export: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "---\n") || strings.Contains(out, "status") || strings.Contains(out, "creationTimestamp") {
		t.Errorf("export is not one clean document:\n%s", out)
	}
	s, err := sealiftv1.Parse([]byte(out))
	if err != nil {
		t.Fatalf("Parse refuses the export: %v\n%s", err, out)
	}
	want := sealiftv1.SyncSpec{
		Source: sealiftv1.Source{
			URL: "oci://registry.example.com/apps/podinfo", Insecure: true,
			Ref:           &sealiftv1.Ref{Semver: ">=1.0.0 <2.0.0", SemverFilter: `^1\.`},
			SecretRef:     &sealiftv1.LocalObjectReference{Name: "regcred"},
			CertSecretRef: &sealiftv1.LocalObjectReference{Name: "registry-ca"},
		},
		Verify: sealiftv1.Verify{Mode: sealiftv1.VerifyEnforce, Keys: []sealiftv1.Key{
			{SecretRef: &sealiftv1.LocalObjectReference{Name: "cosign-pub"}},
			{SecretRef: &sealiftv1.LocalObjectReference{Name: "cosign-pub-2"}},
		}},
		Path: "./deploy", TargetNamespace: "apps", Prune: true, ServiceAccountName: "deployer",
		DependsOn: []sealiftv1.LocalObjectReference{{Name: "infra"}, {Name: "db"}},
		Drift:     sealiftv1.DriftCorrect,
	}
	if s.Name != "podinfo" || s.Namespace != "ops-export" {
		t.Errorf("metadata = %s/%s, want ops-export/podinfo (the context's namespace)", s.Namespace, s.Name)
	}
	if s.Spec.Interval == nil || s.Spec.Interval.Duration != 90*time.Second {
		t.Errorf("interval = %v, want 90s", s.Spec.Interval)
	}
	got := s.Spec
	got.Interval, got.Timeout = nil, nil // checked above; Timeout is Parse's default
	if diff := diffJSON(t, want, got); diff != "" {
		t.Errorf("parsed spec differs from the flags: %s", diff)
	}

	// The same document, sent as kubectl sends it, passes the CRD's schema
	// with strict field validation.
	withCRD(t)
	makeNamespace(t, "ops-export")
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	if err := applyYAML(t, obj, true); err != nil {
		t.Errorf("the API server refuses the export: %v", err)
	}

	// -n wins over the context's namespace.
	out, err = runCLI(t, "create", "sync", "podinfo", "--kubeconfig", kubeconfig, "-n", "other",
		"--url", "oci://registry.example.com/apps/podinfo", "--digest", "sha256:"+strings.Repeat("a", 64), "--verify-mode", "audit", "--export")
	if err != nil {
		t.Fatalf("create --export -n: %v", err)
	}
	if s, err := sealiftv1.Parse([]byte(out)); err != nil || s.Namespace != "other" || s.Spec.Verify.Mode != sealiftv1.VerifyAudit || len(s.Spec.Verify.Keys) != 0 {
		t.Errorf("export with -n other and --verify-mode audit: %v\n%s", err, out)
	}
}

// diffJSON compares two values by their JSON forms.
func diffJSON(t *testing.T, want, got any) string {
	t.Helper()
	w, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(w) == string(g) {
		return ""
	}
	return "want:\n" + string(w) + "got:\n" + string(g)
}

// TestCreateSyncApplies: create applies the Sync with server-side apply,
// updates it in place when run again, leaves fields it does not set (a
// suspend set by `sealift suspend`) alone, and says what to do about a
// missing namespace.
func TestCreateSyncApplies(t *testing.T) {
	withCRD(t)
	const ns = "ops-create"
	makeNamespace(t, ns)
	create := func(extra ...string) (string, error) {
		args := append([]string{"create", "sync", "app", "--kubeconfig", kubeEnv.Kubeconfig, "-n", ns,
			"--url", "oci://registry.example.com/apps/app", "--key-secret", "cosign-pub"}, extra...)
		return run(t, args...)
	}
	out, err := create("--tag", "1.0.0", "--prune")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if !strings.Contains(out, "✔ Sync ops-create/app applied (generation 1)") {
		t.Errorf("create output:\n%s", out)
	}
	s := readSync(t, ns, "app")
	if s.Spec.Source.Ref == nil || s.Spec.Source.Ref.Tag != "1.0.0" || !s.Spec.Prune || s.Spec.Verify.Keys[0].SecretRef.Name != "cosign-pub" {
		t.Errorf("applied spec = %+v", s.Spec)
	}
	managers := []string{}
	for _, m := range s.ManagedFields {
		managers = append(managers, m.Manager+"/"+string(m.Operation))
	}
	if !slices.Contains(managers, cliFieldManager+"/Apply") {
		t.Errorf("field managers = %v, want %s/Apply", managers, cliFieldManager)
	}

	if out, err := run(t, "suspend", "sync", "app", "--kubeconfig", kubeEnv.Kubeconfig, "-n", ns); err != nil || !strings.Contains(out, "✔ Sync ops-create/app suspended") {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	out, err = create("--tag", "1.1.0")
	if err != nil {
		t.Fatalf("create again: %v\n%s", err, out)
	}
	s = readSync(t, ns, "app")
	if s.Spec.Source.Ref.Tag != "1.1.0" || s.Generation < 2 {
		t.Errorf("after a second create: tag %q, generation %d", s.Spec.Source.Ref.Tag, s.Generation)
	}
	if s.Spec.Prune {
		t.Error("prune is still true: a second create without --prune should drop the field it set before")
	}
	if !s.Spec.Suspend {
		t.Error("a second create cleared spec.suspend, which `sealift suspend` set and create does not")
	}

	out, err = run(t, "create", "sync", "app", "--kubeconfig", kubeEnv.Kubeconfig, "-n", "ops-no-such-namespace",
		"--url", "oci://registry.example.com/apps/app", "--tag", "1.0.0", "--key-secret", "cosign-pub")
	if err == nil || !strings.Contains(errText(err), "Recommendation: create the namespace first: kubectl create namespace ops-no-such-namespace") {
		t.Errorf("create in a missing namespace: err = %v\n%s", err, out)
	}
}

// TestCreateSyncRefusesBadFlags: every flag is checked before the cluster
// is reached, and the error names the flag.
func TestCreateSyncRefusesBadFlags(t *testing.T) {
	kubeconfig := closedKubeconfig(t, "")
	base := func(extra ...string) []string {
		return append([]string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--url", "oci://r.example/apps/app"}, extra...)
	}
	key := []string{"--key-secret", "k"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no ref", base(key...), "--tag, --semver and --digest"},
		{"two refs", base(append(key, "--tag", "1", "--digest", "sha256:"+strings.Repeat("a", 64))...), "--tag, --semver and --digest"},
		{"bad tag", base(append(key, "--tag", "no spaces")...), "--tag, --semver, --semver-filter or --digest"},
		{"bad digest", base(append(key, "--digest", "sha256:xyz")...), "--tag, --semver, --semver-filter or --digest"},
		{"bad semver", base(append(key, "--semver", "one")...), "--tag, --semver, --semver-filter or --digest"},
		{"bad semver filter", base(append(key, "--semver", "1.x", "--semver-filter", "(")...), "--tag, --semver, --semver-filter or --digest"},
		{"semver filter alone", base(append(key, "--tag", "1", "--semver-filter", "x")...), "--semver-filter"},
		{"no url", []string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--tag", "1", "--key-secret", "k"}, "--url"},
		{"url without scheme", []string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--url", "r.example/app", "--tag", "1", "--key-secret", "k"}, "--url"},
		{"url with tag and --tag", []string{"create", "sync", "app", "--kubeconfig", kubeconfig, "--url", "oci://r.example/app:2", "--tag", "1", "--key-secret", "k"}, "--url"},
		{"no key", base("--tag", "1"), "--key-secret"},
		{"bad key secret", base("--tag", "1", "--key-secret", "Bad_Name"), "--key-secret"},
		{"bad verify mode", base(append(key, "--tag", "1", "--verify-mode", "warn")...), "--verify-mode"},
		{"zero interval", base(append(key, "--tag", "1", "--interval", "0s")...), "--interval"},
		{"negative interval", base(append(key, "--tag", "1", "--interval", "-1m")...), "--interval"},
		{"cross-namespace dependency", base(append(key, "--tag", "1", "--depends-on", "infra/base")...), "--depends-on"},
		{"empty dependency", base(append(key, "--tag", "1", "--depends-on", "a,,b")...), "--depends-on"},
		{"bad target namespace", base(append(key, "--tag", "1", "--target-namespace", "Apps")...), "--target-namespace"},
		{"bad service account", base(append(key, "--tag", "1", "--service-account", "a/b")...), "--service-account"},
		{"empty secret ref", base(append(key, "--tag", "1", "--secret-ref", "")...), "--secret-ref"},
		{"bad namespace", base(append(key, "--tag", "1", "-n", "Not_A_Namespace")...), "--namespace"},
		{"bad name", []string{"create", "sync", "App!", "--kubeconfig", kubeconfig, "--url", "oci://r.example/app", "--tag", "1", "--key-secret", "k"}, "NAME"},
		{"no name", []string{"create", "sync", "--kubeconfig", kubeconfig, "--url", "oci://r.example/app", "--tag", "1", "--key-secret", "k"}, "NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, export := range []bool{false, true} {
				args := tc.args
				if export {
					args = append(slices.Clone(args), "--export")
				}
				out, err := run(t, args...)
				if err == nil {
					t.Fatalf("%v succeeded:\n%s", args, out)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%v: error %q does not name %s", args, err, tc.want)
				}
				if strings.Contains(err.Error(), "connect") {
					t.Errorf("%v: reached the network before checking its flags: %v", args, err)
				}
			}
		})
	}

	// Validate's own errors keep their sentinel.
	_, err := run(t, base("--key-secret", "k", "--tag", "no spaces")...)
	if !errors.Is(err, errdef.ErrInvalidObject) {
		t.Errorf("bad tag: err = %v, want ErrInvalidObject", err)
	}
}
