package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
)

// pushVersions pushes one small artifact per tag and returns their digests.
func pushVersions(t *testing.T, reg *registrytest.Registry, repo string, tags ...string) map[string]string {
	t.Helper()
	digests := map[string]string{}
	for _, tag := range tags {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "v.yaml"), []byte("version: "+tag+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, "push", src, reg.URL(repo, tag), "--insecure")
		if err != nil {
			t.Fatalf("push %s: %v\n%s", tag, err, out)
		}
		digests[tag] = strings.TrimSpace(out)
	}
	return digests
}

func TestPullSemver(t *testing.T) {
	reg := registrytest.Start(t)
	digests := pushVersions(t, reg, "team/app", "1.0.0", "1.4.2", "v1.9.0", "2.0.0", "latest")
	repo := "oci://" + reg.Repo("team/app")

	tests := map[string]struct {
		args []string
		want string // tag whose digest is printed; empty means an error
	}{
		"range":             {args: []string{repo, "--semver", ">=1.0.0 <2.0.0"}, want: "v1.9.0"},
		"tilde":             {args: []string{repo, "--semver", "~1.4"}, want: "1.4.2"},
		"filter":            {args: []string{repo, "--semver", "*", "--semver-filter", `^\d`}, want: "2.0.0"},
		"no match":          {args: []string{repo, "--semver", ">=3"}},
		"with tag":          {args: []string{repo + ":1.0.0", "--semver", "*"}},
		"with digest":       {args: []string{repo + "@" + digests["1.0.0"], "--semver", "*"}},
		"bad range":         {args: []string{repo, "--semver", "one"}},
		"filter alone":      {args: []string{repo, "--semver-filter", "x"}},
		"default is latest": {args: []string{repo}, want: "latest"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			args := append([]string{"pull", "--insecure", "-o", dest}, tc.args...)
			out, err := run(t, args...)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("%v succeeded: %s", args, out)
				}
				if _, statErr := os.Stat(dest); !os.IsNotExist(statErr) {
					t.Errorf("failed pull left %s behind", dest)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			if got := strings.TrimSpace(out); got != digests[tc.want] {
				t.Errorf("printed %q, want the digest of %s (%s)", got, tc.want, digests[tc.want])
			}
		})
	}
}

func TestPushPullTLSAuth(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registrytest.StartWith(t, registrytest.Options{TLS: true, ClientCerts: true, Users: map[string]string{"ci": "pw"}})
	cfg := reg.DockerConfig(t, "ci", "pw")
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "cm.yaml"), []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--ca-file", reg.CAFile, "--cert-file", reg.ClientCertFile, "--key-file", reg.ClientKeyFile}
	url := reg.URL("team/app", "v1")
	out, err := run(t, append([]string{"push", src, url, "--registry-config", cfg}, tlsFlags...)...)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	digest := strings.TrimSpace(out)
	dest := filepath.Join(t.TempDir(), "out")
	out, err = run(t, append([]string{"pull", url, "-o", dest, "--creds", "ci:pw"}, tlsFlags...)...)
	if err != nil || strings.TrimSpace(out) != digest {
		t.Fatalf("pull printed %q, %v; want %s", out, err, digest)
	}

	for name, args := range map[string][]string{
		"no CA":            {"--cert-file", reg.ClientCertFile, "--key-file", reg.ClientKeyFile, "--creds", "ci:pw"},
		"no client cert":   {"--ca-file", reg.CAFile, "--creds", "ci:pw"},
		"no credentials":   tlsFlags,
		"wrong password":   append([]string{"--creds", "ci:nope"}, tlsFlags...),
		"cert without key": {"--ca-file", reg.CAFile, "--cert-file", reg.ClientCertFile, "--creds", "ci:pw"},
		"insecure with CA": {"--ca-file", reg.CAFile, "--insecure"},
	} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			if out, err := run(t, append([]string{"pull", url, "-o", dest}, args...)...); err == nil {
				t.Fatalf("pull succeeded: %s", out)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	reg := registrytest.Start(t)
	pushVersions(t, reg, "team/app", "v1")
	ref, repo := reg.Repository(t, "team/app", "v1")
	ctx := context.Background()
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		t.Fatal(err)
	}

	if p := startProgress(&bytes.Buffer{}, "pulling"); p != nil {
		t.Fatal("progress on a buffer")
	}
	var nilProgress *progress
	if nilProgress.track(repo) != oras.ReadOnlyTarget(repo) {
		t.Error("a nil progress wraps the source")
	}
	nilProgress.finish()

	var out bytes.Buffer
	p := newProgress(&out, "pulling")
	if err := pull.Fetch(ctx, p.track(repo), desc, memory.New(), pull.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	p.finish()
	if p.n.Load() == 0 || p.n.Load() != p.total.Load() {
		t.Errorf("counted %d of %d bytes", p.n.Load(), p.total.Load())
	}
	if out.Len() != 0 {
		t.Errorf("a quick transfer drew %q", out.String())
	}
}

// With --key, pull checks the signatures first and writes nothing unless
// the keys signed the digest.
func TestPullWithKeyVerifiesFirst(t *testing.T) {
	reg := registrytest.Start(t)
	dir := t.TempDir()
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatalf("key generate: %v", err)
	}
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	manifests := "../../examples/podinfo/manifests"
	if out, err := run(t, "push", manifests, reg.URL("team/app", "signed"), "--insecure", "--sign", "--key", keyPath); err != nil {
		t.Fatalf("push --sign: %v\n%s", err, out)
	}
	if out, err := run(t, "push", manifests, reg.URL("team/app", "unsigned"), "--insecure", "-a", "variant=unsigned"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}

	out := filepath.Join(dir, "signed")
	if got, err := run(t, "pull", reg.URL("team/app", "signed"), "-o", out, "--key", pubPath, "--insecure"); err != nil {
		t.Fatalf("pull --key of a signed artifact: %v\n%s", err, got)
	}
	if _, err := os.Stat(filepath.Join(out, "configmap.yaml")); err != nil {
		t.Errorf("signed artifact not extracted: %v", err)
	}

	for _, tc := range []struct {
		name, tag, key, want string
	}{
		{"another key", "signed", writeTestPub(t), "not signed by any policy key"},
		{"unsigned", "unsigned", pubPath, "no signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "refused-"+tc.tag)
			got, err := run(t, "pull", reg.URL("team/app", tc.tag), "-o", out, "--key", tc.key, "--insecure")
			if err == nil || !strings.Contains(err.Error(), "not pulled") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (output %q), want a refusal naming %q", err, got, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a refused pull (%v)", out, err)
			}
		})
	}
	if _, err := run(t, "pull", reg.URL("team/app", "signed"), "-o", filepath.Join(dir, "x"), "--key", pubPath, "--threshold", "2", "--insecure"); err == nil || !strings.Contains(err.Error(), "--threshold 2 with 1 keys") {
		t.Errorf("threshold above the keys: err = %v", err)
	}
}
