//go:build interop

package verify

// The interop suite runs the real cosign CLIs against the in-process
// registry: hack/interop.sh builds them and points SEALIFT_COSIGN_V2 and
// SEALIFT_COSIGN_V3 at the binaries. A missing variable skips that version.

import (
	"bytes"
	"context"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

// cosignCLI is one cosign binary with an isolated home and key pair.
type cosignCLI struct {
	t       *testing.T
	bin     string
	home    string
	keyPath string
	pubPath string
	signer  crypto.Signer
}

const interopPassword = "interop"

func newCosignCLI(t *testing.T, env string) *cosignCLI {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		t.Skipf("%s not set (run hack/interop.sh)", env)
	}
	dir := t.TempDir()
	priv, pub, err := cosignfmt.GenerateKeyPair([]byte(interopPassword))
	if err != nil {
		t.Fatal(err)
	}
	c := &cosignCLI{t: t, bin: bin, home: dir, keyPath: filepath.Join(dir, "cosign.key"), pubPath: filepath.Join(dir, "cosign.pub")}
	if err := os.WriteFile(c.keyPath, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	c.signer, err = cosignfmt.LoadPrivateKey(priv, []byte(interopPassword))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs cosign with args, offline: its home and TUF cache are private to
// the test and no transparency log or signing config is used.
func (c *cosignCLI) run(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(),
		"HOME="+c.home,
		"TUF_ROOT="+filepath.Join(c.home, "tuf"),
		"COSIGN_PASSWORD="+interopPassword,
		"COSIGN_YES=true",
		"COSIGN_EXPERIMENTAL=0",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cosignCLI) policy() Policy {
	return Policy{Keys: []crypto.PublicKey{c.signer.Public()}}
}

// emptyTrustedRoot is a trusted root with no authorities: enough for
// cosign v2 to read bundles checked with a key alone.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

// TestInterop checks both directions with each cosign version: sealift
// verifies what cosign signed (and rejects it under another key), and
// cosign verifies what sealift signed (and rejects another key).
func TestInterop(t *testing.T) {
	versions := []struct {
		env string
		// signArgs sign offline with a key, in the version's default format.
		signArgs []string
		// signFormat is the format that produces.
		signFormat string
		// verifyArgs verify with a key and no transparency log, per format
		// sealift writes.
		verifyArgs map[string][]string
	}{
		{
			env:        "SEALIFT_COSIGN_V2",
			signArgs:   []string{"sign", "--tlog-upload=false", "--allow-insecure-registry", "-y"},
			signFormat: formatLegacy,
			verifyArgs: map[string][]string{
				formatLegacy: {"verify", "--insecure-ignore-tlog=true", "--allow-insecure-registry"},
				formatBundle: {"verify", "--insecure-ignore-tlog=true", "--allow-insecure-registry", "--new-bundle-format", "--trusted-root", "@ROOT@"},
			},
		},
		{
			env:        "SEALIFT_COSIGN_V3",
			signArgs:   []string{"sign", "--use-signing-config=false", "--tlog-upload=false", "--allow-insecure-registry", "-y"},
			signFormat: formatBundle,
			verifyArgs: map[string][]string{
				formatLegacy: {"verify", "--insecure-ignore-tlog=true", "--allow-insecure-registry"},
				formatBundle: {"verify", "--insecure-ignore-tlog=true", "--allow-insecure-registry"},
			},
		},
	}
	for _, ver := range versions {
		t.Run(ver.env, func(t *testing.T) {
			c := newCosignCLI(t, ver.env)
			f := newFixture(t)
			ctx := context.Background()
			other := newKey(t)
			otherPub := filepath.Join(c.home, "other.pub")
			pem, _ := cosignfmt.MarshalPublicKey(other.Public())
			if err := os.WriteFile(otherPub, pem, 0o644); err != nil {
				t.Fatal(err)
			}
			rootPath := filepath.Join(c.home, "trusted_root.json")
			if err := os.WriteFile(rootPath, []byte(emptyTrustedRoot), 0o644); err != nil {
				t.Fatal(err)
			}

			t.Run("sealift verifies what cosign signed", func(t *testing.T) {
				subject := f.subject("cosign-signed")
				args := append(append([]string{}, ver.signArgs...), "--key", c.keyPath, f.name+"@"+subject.Digest.String())
				if out, err := c.run(args...); err != nil {
					t.Fatalf("cosign %v: %v\n%s", args, err, out)
				}
				v, err := Verify(ctx, f.repo, subject, c.policy())
				if err != nil || !v.Verified {
					t.Fatalf("cosign signature not accepted: %+v, %v", v, err)
				}
				if len(v.Checked) != 1 || v.Checked[0].Format != ver.signFormat {
					t.Errorf("checked %+v, want one %s signature", v.Checked, ver.signFormat)
				}
				_, err = Verify(ctx, f.repo, subject, Policy{Keys: []crypto.PublicKey{other.Public()}})
				if !errdef.IsTerminal(err) || !strings.Contains(err.Error(), "not signed by any policy key") {
					t.Fatalf("another key: err = %v, want a terminal key mismatch", err)
				}
			})

			for _, format := range []string{formatLegacy, formatBundle} {
				t.Run("cosign verifies what sealift signed, "+format, func(t *testing.T) {
					subject := f.subject("sealift-signed-" + format)
					var err error
					if format == formatLegacy {
						err = cosignfmt.SignLegacy(ctx, f.repo, subject, f.name, c.signer)
					} else {
						_, err = cosignfmt.SignBundle(ctx, f.repo, subject, c.signer)
					}
					if err != nil {
						t.Fatal(err)
					}
					ref := f.name + "@" + subject.Digest.String()
					args := func(key string) []string {
						var a []string
						for _, x := range ver.verifyArgs[format] {
							a = append(a, strings.ReplaceAll(x, "@ROOT@", rootPath))
						}
						return append(a, "--key", key, ref)
					}
					if out, err := c.run(args(c.pubPath)...); err != nil {
						t.Fatalf("cosign %v: %v\n%s", args(c.pubPath), err, out)
					}
					if out, err := c.run(args(otherPub)...); err == nil {
						t.Fatalf("cosign verify accepted another key:\n%s", out)
					}
				})
			}
		})
	}
}

// runTimed runs bin with args n times and returns the total wall time.
func runTimed(b *testing.B, n int, env []string, bin string, args ...string) time.Duration {
	b.Helper()
	var total time.Duration
	for range n {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s %v: %v\n%s", bin, args, err, out.String())
		}
		total += time.Since(start)
	}
	return total
}

// BenchmarkInteropVerify runs `sealift verify` and `cosign verify` (each
// version found) against the same signed artifact, key and registry, and
// reports the mean wall time of each, their ratio, and the start-up time of
// each binary doing nothing (`sealift --help`, `cosign version`).
// SEALIFT_BIN points at a sealift binary built from this tree.
func BenchmarkInteropVerify(b *testing.B) {
	sealift := os.Getenv("SEALIFT_BIN")
	if sealift == "" {
		b.Skip("SEALIFT_BIN not set (run hack/interop.sh)")
	}
	reg := registrytest.Start(b)
	repo, err := remote.NewRepository(reg.Repo("team/app"))
	if err != nil {
		b.Fatal(err)
	}
	repo.PlainHTTP = true
	ctx := context.Background()
	subject, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.sealift.test", oras.PackManifestOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	priv, pub, err := cosignfmt.GenerateKeyPair([]byte(interopPassword))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cosignfmt.LoadPrivateKey(priv, []byte(interopPassword))
	if err != nil {
		b.Fatal(err)
	}
	pubPath := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, repo, subject, reg.Repo("team/app"), signer); err != nil {
		b.Fatal(err)
	}
	ref := reg.Repo("team/app") + "@" + subject.Digest.String()
	env := []string{"HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	sealiftArgs := []string{"verify", "oci://" + ref, "--key", pubPath, "--insecure"}
	cosignArgs := []string{"verify", "--key", pubPath, "--insecure-ignore-tlog=true", "--allow-insecure-registry", ref}

	const warmup = 2
	runTimed(b, warmup, env, sealift, sealiftArgs...)
	type peer struct {
		name, bin       string
		verify, startup time.Duration
	}
	var peers []*peer
	for _, v := range []string{"v2", "v3"} {
		if bin := os.Getenv("SEALIFT_COSIGN_" + strings.ToUpper(v)); bin != "" {
			peers = append(peers, &peer{name: "cosign-" + v, bin: bin})
			runTimed(b, warmup, env, bin, cosignArgs...)
		}
	}
	var sealiftVerify, sealiftStart time.Duration
	b.ResetTimer()
	for range b.N {
		sealiftVerify += runTimed(b, 1, env, sealift, sealiftArgs...)
		sealiftStart += runTimed(b, 1, env, sealift, "--help")
		for _, p := range peers {
			p.verify += runTimed(b, 1, env, p.bin, cosignArgs...)
			p.startup += runTimed(b, 1, env, p.bin, "version")
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(sealiftVerify), "sealift-verify-ms")
	b.ReportMetric(ms(sealiftStart), "sealift-startup-ms")
	for _, p := range peers {
		b.ReportMetric(ms(p.verify), p.name+"-verify-ms")
		b.ReportMetric(ms(p.startup), p.name+"-startup-ms")
		b.ReportMetric(float64(p.verify)/float64(sealiftVerify), p.name+"/sealift")
	}
}
