package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// pushTestManifest pushes a small manifest to host/name:tag.
func pushTestManifest(t *testing.T, reg *registrytest.Registry, name, tag string) ocispec.Descriptor {
	t.Helper()
	repo, err := remote.NewRepository(reg.Repo(name))
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	ctx := context.Background()
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.sealift.test",
		oras.PackManifestOptions{ManifestAnnotations: map[string]string{"tag": tag}})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	return desc
}

func TestKeySignVerifyCLI(t *testing.T) {
	reg := registrytest.Start(t)
	signed := pushTestManifest(t, reg, "team/app", "v1")
	pushTestManifest(t, reg, "team/app", "unsigned")
	dir := t.TempDir()
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	t.Setenv(cosignfmt.PasswordEnv, "pw")

	// key generate
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatalf("key generate: %v", err)
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cosign.key mode = %v, want 0600", st.Mode().Perm())
	}
	pubBefore, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second key generate: err = %v, want 'already exists'", err)
	}
	if after, _ := os.ReadFile(pubPath); !bytes.Equal(after, pubBefore) {
		t.Fatalf("existing public key was overwritten")
	}

	// A public key that signed nothing.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerPEM, _ := cosignfmt.MarshalPublicKey(stranger.Public())
	strangerPath := filepath.Join(dir, "stranger.pub")
	if err := os.WriteFile(strangerPath, strangerPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	// sign by tag, -o json
	out, err := runCLI(t, "sign", reg.URL("team/app", "v1"), "--key", keyPath, "--insecure", "-o", "json")
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	var sr signResult
	if err := json.Unmarshal([]byte(out), &sr); err != nil {
		t.Fatalf("sign -o json: %v: %s", err, out)
	}
	if sr.Digest != signed.Digest.String() {
		t.Fatalf("signed digest %s, want %s", sr.Digest, signed.Digest)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr error
		wantOut string
	}{
		{"verify by tag", []string{"verify", reg.URL("team/app", "v1"), "--key", pubPath, "--insecure"}, nil, "Verified " + reg.Repo("team/app") + "@" + signed.Digest.String()},
		{"verify by digest", []string{"verify", "oci://" + reg.Repo("team/app") + "@" + signed.Digest.String(), "--key", pubPath, "--insecure"}, nil, sr.Key},
		{"one of two keys", []string{"verify", reg.URL("team/app", "v1"), "--key", strangerPath, "--key", pubPath, "--insecure"}, nil, "signed by"},
		{"threshold 2 not met", []string{"verify", reg.URL("team/app", "v1"), "--key", strangerPath, "--key", pubPath, "--threshold", "2", "--insecure"}, errdef.ErrSignatureInvalid, ""},
		{"other key", []string{"verify", reg.URL("team/app", "v1"), "--key", strangerPath, "--insecure"}, errdef.ErrSignatureInvalid, ""},
		{"unsigned", []string{"verify", reg.URL("team/app", "unsigned"), "--key", pubPath, "--insecure"}, errdef.ErrNoSignature, ""},
		{"json verdict on failure", []string{"verify", reg.URL("team/app", "unsigned"), "--key", pubPath, "--insecure", "-o", "json"}, errdef.ErrNoSignature, `"verified": false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.args...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not contain %q", out, tt.wantOut)
			}
		})
	}

	t.Run("json verdict", func(t *testing.T) {
		out, err := runCLI(t, "verify", reg.URL("team/app", "v1"), "--key", pubPath, "--insecure", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Digest   string   `json:"digest"`
			Verified bool     `json:"verified"`
			Signers  []string `json:"signers"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !res.Verified || res.Digest != signed.Digest.String() || len(res.Signers) != 1 || res.Signers[0] != sr.Key {
			t.Errorf("verdict = %+v", res)
		}
	})
}

func TestSignAndVerifyFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"sign without key", []string{"sign", "oci://127.0.0.1:1/app@sha256:" + strings.Repeat("a", 64)}, "--key is required"},
		{"sign bad signature repository", []string{"sign", "oci://127.0.0.1:1/app:v1", "--key", filepath.Join(t.TempDir(), "none.key"), "--signature-repository", "x/y:tag"}, "is not a repository"},
		{"verify bad signature repository", []string{"verify", "oci://127.0.0.1:1/app@sha256:" + strings.Repeat("a", 64), "--key", writeTestPub(t), "--signature-repository", "127.0.0.1:1/sigs:v1"}, "is not a repository"},
		{"sign unknown format", []string{"sign", "oci://127.0.0.1:1/app:v1", "--key", "k", "--format", "x"}, "unknown --format"},
		{"verify without key", []string{"verify", "oci://127.0.0.1:1/app:v1"}, "--key is required"},
		{"verify keyless without trusted root", []string{"verify", "oci://127.0.0.1:1/app:v1", "--certificate-identity", "a@example.com", "--certificate-oidc-issuer", "https://issuer.example"}, "needs --trusted-root"},
		{"verify keyless without issuer", []string{"verify", "oci://127.0.0.1:1/app:v1", "--certificate-identity", "a@example.com", "--trusted-root", "root.json"}, "--certificate-oidc-issuer"},
		{"verify keyless bad trusted root", []string{"verify", "oci://127.0.0.1:1/app:v1", "--certificate-identity", "a@example.com", "--certificate-oidc-issuer", "https://issuer.example", "--trusted-root", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"verify threshold too high", []string{"verify", "oci://127.0.0.1:1/app:v1", "--key", "a", "--threshold", "2"}, "--threshold 2 with 1 keys"},
		{"verify missing key file", []string{"verify", "oci://127.0.0.1:1/app:v1", "--key", filepath.Join(t.TempDir(), "none.pub")}, "no such file"},
		{"verify bad reference", []string{"verify", "https://x/app", "--key", "a"}, "invalid reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantMsg)
			}
			var h *hintError
			if strings.Contains(tt.wantMsg, "--") && !errors.As(err, &h) {
				t.Errorf("flag error has no recommendation: %v", err)
			}
		})
	}
}

func TestKeyGenerateEmptyPassword(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(cosignfmt.PasswordEnv, "")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatalf("key generate with an empty password: %v", err)
	}
	if _, err := cosignfmt.LoadPrivateKeyFile(filepath.Join(dir, "cosign.key"), nil); err != nil {
		t.Fatalf("key made with an empty password does not load with one: %v", err)
	}
}

// writeTestPub writes a fresh public key and returns its path.
func writeTestPub(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pem, err := cosignfmt.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSignFormatsCLI(t *testing.T) {
	reg := registrytest.Start(t)
	dir := t.TempDir()
	t.Setenv(cosignfmt.PasswordEnv, "pw")
	t.Setenv(signatureRepoEnv, "")
	if _, err := runCLI(t, "key", "generate", "--output-dir", dir); err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	tests := []struct {
		format     string
		sigRepo    string
		wantTag    bool
		wantBundle bool
	}{
		{format: "legacy", wantTag: true},
		{format: "bundle", wantBundle: true},
		{format: "both", wantTag: true, wantBundle: true},
		{format: "both", sigRepo: reg.Repo("team/signatures"), wantTag: true, wantBundle: true},
	}
	for i, tt := range tests {
		t.Run(tt.format+" "+tt.sigRepo, func(t *testing.T) {
			tag := "v" + string(rune('a'+i))
			desc := pushTestManifest(t, reg, "team/app", tag)
			args := []string{"sign", reg.URL("team/app", tag), "--key", keyPath, "--insecure", "--format", tt.format, "-o", "json"}
			verifyArgs := []string{"verify", reg.URL("team/app", tag), "--key", pubPath, "--insecure", "-o", "json"}
			if tt.sigRepo != "" {
				args = append(args, "--signature-repository", tt.sigRepo)
				verifyArgs = append(verifyArgs, "--signature-repository", tt.sigRepo)
			}
			out, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			var sr signResult
			if err := json.Unmarshal([]byte(out), &sr); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if (sr.SignatureTag != "") != tt.wantTag || (sr.Bundle != "") != tt.wantBundle {
				t.Fatalf("sign result %+v, want tag %v bundle %v", sr, tt.wantTag, tt.wantBundle)
			}
			if tt.sigRepo != "" && sr.SignatureRepository != tt.sigRepo {
				t.Errorf("signature repository = %s, want %s", sr.SignatureRepository, tt.sigRepo)
			}
			out, err = runCLI(t, verifyArgs...)
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, out)
			}
			var res struct {
				Digest  string `json:"digest"`
				Checked []struct {
					Format string `json:"format"`
					Signer string `json:"signer"`
				} `json:"checked"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			formats := map[string]bool{}
			for _, c := range res.Checked {
				if c.Signer != sr.Key {
					t.Errorf("check %+v not by the signing key", c)
				}
				formats[c.Format] = true
			}
			if res.Digest != desc.Digest.String() || formats["legacy"] != tt.wantTag || formats["bundle"] != tt.wantBundle {
				t.Errorf("verdict %s", out)
			}
			if tt.sigRepo != "" {
				// Without the override nothing is found next to the artifact.
				_, err := runCLI(t, "verify", reg.URL("team/app", tag), "--key", pubPath, "--insecure")
				if !errors.Is(err, errdef.ErrNoSignature) {
					t.Errorf("signatures leaked into the artifact repository: err = %v", err)
				}
			}
		})
	}
}
