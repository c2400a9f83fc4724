//go:build airgap

package airgap

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/internal/kubetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
)

// The outer run (in the root namespace) builds the network and runs the
// test binary again inside the cluster namespace, where the scenario runs
// against its own API server.
const (
	stageEnv = "SEALIFT_AIRGAP_STAGE" // "inside" in the re-run
	dirEnv   = "SEALIFT_AIRGAP_DIR"   // the outer run's working directory
	// BinDirEnv names the directory holding sealift and sealift-registry
	// (default: <module root>/bin, where make build puts them).
	BinDirEnv = "SEALIFT_BIN_DIR"
)

// Fixed names of the scenario.
const (
	upstreamAddr = upstreamIP + ":5000"
	mirrorAddr   = mirrorIP + ":5443"
	release      = "1.0.0"
	appNamespace = "airgap-demo"
	// appImage is the image the release's Deployment runs. Relocating it
	// to the mirror is not asserted yet (see "images across the gap").
	appImage                   = "docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"
	mirrorUser, mirrorPassword = "ops", "air-gapped"
)

var kube *kubetest.Env

func TestMain(m *testing.M) {
	if os.Getenv(stageEnv) == "inside" {
		os.Exit(kubetest.RunWith(m, &kube, kubetest.Options{AdvertiseAddress: clusterIP}))
	}
	os.Exit(m.Run())
}

func TestAirGap(t *testing.T) {
	if os.Getenv(stageEnv) == "inside" {
		scenario(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("the air-gap test needs root: it creates network namespaces and veth pairs (ip netns, ip link); run `make test-airgap` as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the air-gap test needs the ip command (iproute2); `make test-airgap` installs it")
	}
	bin := binDir(t)
	for _, b := range []string{"sealift", "sealift-registry"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%v: build the binaries with `make build`, or set %s", err, BinDirEnv)
		}
	}
	start := time.Now()
	// An earlier run that crashed may have left its network behind.
	if err := teardownNetwork(); err != nil {
		t.Fatalf("remove what an earlier run left: %v", err)
	}
	t.Cleanup(func() {
		if err := teardownNetwork(); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	if err := setupNetwork(); err != nil {
		t.Fatalf("set up the network: %v", err)
	}
	t.Logf("network up in %s", time.Since(start).Round(time.Millisecond))

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"netns", "exec", nsCluster, self, "-test.run", "^TestAirGap$", "-test.v", "-test.timeout", "15m"}
	inner := exec.Command("ip", args...)
	inner.Env = append(os.Environ(), stageEnv+"=inside", dirEnv+"="+t.TempDir(), BinDirEnv+"="+bin)
	inner.Stdout, inner.Stderr = os.Stdout, os.Stderr
	scenarioStart := time.Now()
	if err := inner.Run(); err != nil {
		t.Fatalf("the scenario inside %s failed: %v", nsCluster, err)
	}
	t.Logf("scenario in %s, whole test so far %s", time.Since(scenarioStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// binDir is where sealift and sealift-registry are.
func binDir(t *testing.T) string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s; set %s", wd, BinDirEnv)
		}
	}
}

// world is what the scenario's steps share.
type world struct {
	top                     *testing.T // the scenario's test, which outlives its steps
	bin                     string
	shared, conn, disc      string
	cert                    registrytest.ServerCert
	pinnedKey               string // the operator's copy of the release key, carried out of band
	syncFile                string
	clientset               *kubernetes.Clientset
	releaseDigest           digest.Digest
	releaseTar              string
	tamperedTar, swappedTar string
	swappedKey              string // the key the attacker put in the transfer
}

func scenario(t *testing.T) {
	base := os.Getenv(dirEnv)
	w := &world{
		top:    t,
		bin:    os.Getenv(BinDirEnv),
		shared: mkdir(t, base, "shared"),
		conn:   mkdir(t, base, "connected"),
		disc:   mkdir(t, base, "disconnected"),
	}
	var err error
	if w.clientset, err = kubernetes.NewForConfig(kube.Config); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		run  func(*testing.T, *world)
	}{
		{"connected: CI pushes and signs a release and mirrors it to a tar", connectedSide},
		{"gap: the disconnected side has no route to the upstream", noRoute},
		{"disconnected: the hardened mirror registry serves", startMirror},
		{"a changed blob is refused, nothing applied", changedBlobRefused},
		{"a swapped trust root is refused, nothing applied", swappedTrustRootRefused},
		{"the release crosses with its digest and the Sync applies it from the mirror", releaseApplied},
		// Images across the gap: when `sealift push --images-lock`,
		// `sealift mirror --with-images` and spec.images.mirrors exist, the
		// step that goes here builds a small image with go-containerregistry
		// on the connected side, pushes and signs it upstream, carries it in
		// the same tar, and asserts that it lands in the mirror by the same
		// digest and that the applied Deployment runs
		// mirrorAddr/library/...@sha256 from the lock. Until then the
		// Deployment's image (appImage) is applied as pushed, and
		// releaseApplied checks exactly that.
	}
	for _, s := range steps {
		start := time.Now()
		if !t.Run(s.name, func(t *testing.T) { s.run(t, w) }) {
			t.Fatalf("step %q failed; the steps after it depend on it", s.name)
		}
		t.Logf("%s: %s", s.name, time.Since(start).Round(time.Millisecond))
	}
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

// sealift runs the sealift binary in namespace ns ("" for the cluster
// namespace the test runs in) and returns its stdout; err carries stderr.
func (w *world) sealift(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	name, argv := filepath.Join(w.bin, "sealift"), args
	if ns != "" {
		name, argv = "ip", append([]string{"netns", "exec", ns, filepath.Join(w.bin, "sealift")}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "DOCKER_CONFIG="+filepath.Join(w.disc, "no-docker-config"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("sealift %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (w *world) must(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := w.sealift(t, ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonDigest reads the "digest" of a -o json output.
func jsonDigest(t *testing.T, out string) digest.Digest {
	t.Helper()
	var v struct {
		Digest digest.Digest `json:"digest"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Digest.Validate() != nil {
		t.Fatalf("no digest in %q: %v", out, err)
	}
	return v.Digest
}

var servingLine = regexp.MustCompile(`serving registry on (https?)://(\S+) from`)

// serveIn starts `sealift registry serve args` in ns and waits until it
// serves; it is ended (by its id) when the scenario ends.
func (w *world) serveIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	argv := append([]string{"netns", "exec", ns, filepath.Join(w.bin, "sealift"), "registry", "serve"}, args...)
	cmd := exec.Command("ip", argv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	served := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if servingLine.MatchString(sc.Text()) {
				select {
				case served <- sc.Text():
				default:
				}
			}
		}
		exited <- cmd.Wait()
	}()
	// The scenario's cleanup, not the step's: servers outlive steps.
	w.top.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case line := <-served:
		t.Logf("%s: %s", ns, line)
	case err := <-exited:
		t.Fatalf("registry in %s exited before serving: %v", ns, err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("registry in %s did not serve within two minutes", ns)
	}
}

// manifests writes the release's Kubernetes manifests: a Namespace, a
// ConfigMap and a Deployment running appImage.
func manifests(t *testing.T, dir, configMap, value string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "namespace.yaml"), fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", appNamespace))
	writeFile(t, filepath.Join(dir, "configmap.yaml"), fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  release: %q\n", configMap, appNamespace, value))
	writeFile(t, filepath.Join(dir, "deployment.yaml"), fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: %s
spec:
  replicas: 1
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: web
          image: %s
`, appNamespace, appImage))
	return dir
}

// connectedSide: the upstream registry serves, CI pushes and signs the
// release and mirrors it with its signature into a tar in the shared
// directory, with the public key beside it for convenience. The attacker's
// material for the tamper steps is made here too.
func connectedSide(t *testing.T, w *world) {
	w.serveIn(t, nsUpstream, "--root", filepath.Join(w.conn, "upstream-root"), "--addr", upstreamAddr)
	keys := mkdir(t, w.conn, "keys")
	w.must(t, nsCI, "key", "generate", "--output-dir", keys)
	app := manifests(t, mkdir(t, w.conn, "app"), "demo", release)
	ref := "oci://" + upstreamAddr + "/apps/demo:" + release
	w.releaseDigest = jsonDigest(t, w.must(t, nsCI, "push", app, ref, "--sign", "--key", filepath.Join(keys, "cosign.key"), "--insecure", "-o", "json"))
	w.releaseTar = filepath.Join(w.shared, "release.tar")
	if got := jsonDigest(t, w.must(t, nsCI, "mirror", ref, "tar:"+w.releaseTar, "--key", filepath.Join(keys, "cosign.pub"), "--insecure", "-o", "json")); got != w.releaseDigest {
		t.Fatalf("the tar holds %s, CI pushed %s", got, w.releaseDigest)
	}
	copyFile(t, filepath.Join(keys, "cosign.pub"), filepath.Join(w.shared, "cosign.pub"))
	// The operator pinned the release key on the disconnected side before,
	// out of band; it never comes from the transfer.
	w.pinnedKey = filepath.Join(w.disc, "pinned", "cosign.pub")
	copyFile(t, filepath.Join(keys, "cosign.pub"), w.pinnedKey)

	// A changed blob: the release's content layer with one byte flipped,
	// under its old name.
	w.tamperedTar = filepath.Join(w.shared, "tampered", "release.tar")
	flipLayerByte(t, w.releaseTar, w.tamperedTar, w.releaseDigest)

	// A swapped trust root: other content under the same name, signed with
	// the attacker's key, whose public half replaces cosign.pub in the
	// transfer.
	evilKeys := mkdir(t, w.conn, "evil-keys")
	w.must(t, nsCI, "key", "generate", "--output-dir", evilKeys)
	evil := manifests(t, mkdir(t, w.conn, "evil"), "evil", "attacker")
	evilRef := "oci://" + upstreamAddr + "/apps/evil:" + release
	w.must(t, nsCI, "push", evil, evilRef, "--sign", "--key", filepath.Join(evilKeys, "cosign.key"), "--insecure")
	w.swappedTar = filepath.Join(mkdir(t, w.shared, "swapped"), "release.tar")
	w.must(t, nsCI, "mirror", evilRef, "tar:"+w.swappedTar, "--key", filepath.Join(evilKeys, "cosign.pub"), "--insecure")
	w.swappedKey = filepath.Join(w.shared, "swapped", "cosign.pub")
	copyFile(t, filepath.Join(evilKeys, "cosign.pub"), w.swappedKey)
}

// flipLayerByte copies the layout tar src to dst with one byte of the
// artifact's content layer changed, keeping every name and size.
func flipLayerByte(t *testing.T, src, dst string, artifact digest.Digest) {
	t.Helper()
	blobs := readTarBlobs(t, src)
	var m ocispec.Manifest
	if err := json.Unmarshal(blobs["blobs/sha256/"+artifact.Encoded()], &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("artifact manifest in %s: %v (%d layers)", src, err, len(m.Layers))
	}
	target := "blobs/sha256/" + m.Layers[0].Digest.Encoded()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	flipped := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == target {
			body[len(body)/2] ^= 0x01
			flipped = true
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !flipped {
		t.Fatalf("%s has no entry %s", src, target)
	}
}

// readTarBlobs reads the regular files of a tar by name.
func readTarBlobs(t *testing.T, p string) map[string][]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
}

// noRoute: from both disconnected namespaces the upstream has no route, and
// a connect from the cluster namespace (where this runs) fails at once with
// "network unreachable", while CI on the connected side reached it.
func noRoute(t *testing.T, w *world) {
	for _, ns := range []string{nsMirror, nsCluster} {
		if out, err := ip("-n", ns, "route", "get", upstreamIP); err == nil {
			t.Errorf("%s has a route to the upstream %s: %s", ns, upstreamIP, out)
		}
	}
	conn, err := net.DialTimeout("tcp", upstreamAddr, 5*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("connected to the upstream %s from the disconnected side", upstreamAddr)
	}
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("connect to the upstream: %v, want network unreachable", err)
	}
	// The same through sealift: the upstream reference cannot be resolved.
	if _, err := w.sealift(t, "", "mirror", "oci://"+upstreamAddr+"/apps/demo:"+release, "tar:"+filepath.Join(w.disc, "direct.tar"), "--insecure"); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("sealift mirror from the upstream on the disconnected side: %v, want network unreachable", err)
	}
}

func (w *world) mirrorFlags() []string {
	return []string{"--ca-file", w.cert.CAFile, "--creds", mirrorUser + ":" + mirrorPassword}
}

// startMirror runs the disconnected side's registry with TLS from a test CA
// and htpasswd auth, and writes the operator's Sync for it.
func startMirror(t *testing.T, w *world) {
	tlsDir := mkdir(t, w.disc, "tls")
	w.cert = registrytest.NewServerCert(t, tlsDir, mirrorIP)
	htpasswd := registrytest.WriteHtpasswd(t, tlsDir, map[string]string{mirrorUser: mirrorPassword})
	w.serveIn(t, nsMirror, "--root", filepath.Join(w.disc, "mirror-root"), "--addr", mirrorAddr,
		"--tls-cert", w.cert.CertFile, "--tls-key", w.cert.KeyFile, "--htpasswd", htpasswd)
	w.syncFile = filepath.Join(w.disc, "sync.yaml")
	writeFile(t, w.syncFile, fmt.Sprintf(`apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata:
  name: demo
  namespace: sealift-system
spec:
  source:
    url: oci://%s/apps/demo
    ref:
      tag: %q
  verify:
    mode: enforce
    keys:
      - path: %s
  path: ./
  prune: true
  wait: false
`, mirrorAddr, release, w.pinnedKey))
	_, err := w.clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sealift-system"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Wrong credentials are refused by the mirror.
	if _, err := w.sealift(t, "", "mirror", "tar:"+w.releaseTar, "oci://"+mirrorAddr+"/apps/probe:"+release, "--ca-file", w.cert.CAFile, "--creds", mirrorUser+":wrong"); err == nil {
		t.Error("the mirror accepted a push with a wrong password")
	}
}

// mirrorTag resolves the mirror's apps/demo tag; ok is false when it does
// not exist.
func (w *world) mirrorTag(t *testing.T) (ocispec.Descriptor, *remote.Repository, bool) {
	t.Helper()
	repo := w.mirrorRepo(t)
	desc, err := repo.Resolve(context.Background(), release)
	if err != nil {
		if errors.Is(err, orasErrdef.ErrNotFound) {
			return ocispec.Descriptor{}, repo, false
		}
		t.Fatalf("resolve the mirror's tag: %v", err)
	}
	return desc, repo, true
}

// nothingApplied checks that the cluster holds none of the release's or
// the attacker's objects.
func (w *world) nothingApplied(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.clientset.CoreV1().Namespaces().Get(ctx, appNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s exists (err %v): something was applied", appNamespace, err)
	}
	cms, err := w.clientset.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Name == "demo" || cm.Name == "evil" {
			t.Errorf("ConfigMap %s/%s was applied", cm.Namespace, cm.Name)
		}
	}
	deps, err := w.clientset.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) > 0 {
		t.Errorf("%d Deployments were applied", len(deps.Items))
	}
}

func (w *world) sync(t *testing.T) (string, error) {
	t.Helper()
	args := append([]string{"sync", "--once", "-f", w.syncFile, "--kubeconfig", kube.Kubeconfig, "--cache-dir", filepath.Join(w.disc, "cache"), "-o", "json"}, w.mirrorFlags()...)
	return w.sealift(t, "", args...)
}

// changedBlobRefused: the transfer with a changed content layer fails
// verification in place and the import into the mirror, which then has no
// such tag; the Sync finds nothing to apply.
func changedBlobRefused(t *testing.T, w *world) {
	_, err := w.sealift(t, "", "verify", "tar:"+w.tamperedTar, "--key", w.pinnedKey)
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("sealift verify of the changed tar: %v, want a digest mismatch", err)
	}
	args := append([]string{"mirror", "tar:" + w.tamperedTar, "oci://" + mirrorAddr + "/apps/demo:" + release, "--key", w.pinnedKey}, w.mirrorFlags()...)
	_, err = w.sealift(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("import of the changed tar: %v, want a digest mismatch", err)
	}
	if desc, _, ok := w.mirrorTag(t); ok {
		t.Errorf("the mirror tags %s after a refused import", desc.Digest)
	}
	if _, err := w.sync(t); err == nil {
		t.Error("the Sync succeeded with nothing in the mirror")
	}
	w.nothingApplied(t)
}

// swappedTrustRootRefused: the release re-signed with the attacker's key,
// whose public half replaced the one in the transfer, fails against the
// pinned key, in place and on import. An operator who takes the key from
// the transfer imports it anyway; the Sync, which trusts only the pinned
// key, then refuses it and applies nothing.
func swappedTrustRootRefused(t *testing.T, w *world) {
	if _, err := w.sealift(t, "", "verify", "tar:"+w.swappedTar, "--key", w.pinnedKey); err == nil {
		t.Error("sealift verify with the pinned key accepted the re-signed release")
	}
	args := append([]string{"mirror", "tar:" + w.swappedTar, "oci://" + mirrorAddr + "/apps/demo:" + release, "--key", w.pinnedKey}, w.mirrorFlags()...)
	if _, err := w.sealift(t, "", args...); err == nil {
		t.Error("import with the pinned key accepted the re-signed release")
	}
	if desc, _, ok := w.mirrorTag(t); ok {
		t.Errorf("the mirror tags %s after a refused import", desc.Digest)
	}

	args = append([]string{"mirror", "tar:" + w.swappedTar, "oci://" + mirrorAddr + "/apps/demo:" + release, "--key", w.swappedKey, "-o", "json"}, w.mirrorFlags()...)
	evil := jsonDigest(t, w.must(t, "", args...))
	if desc, _, ok := w.mirrorTag(t); !ok || desc.Digest != evil {
		t.Fatalf("the import trusting the transfer's key did not tag %s in the mirror", evil)
	}
	out, err := w.sync(t)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "signature") {
		t.Errorf("the Sync on the re-signed release: %v (%s), want a signature refusal", err, out)
	}
	w.nothingApplied(t)
}

// releaseApplied: the genuine transfer verifies against the pinned key and
// is imported into the mirror by the digest CI pushed; the Sync resolves it
// there, by that digest, and applies it.
func releaseApplied(t *testing.T, w *world) {
	ctx := context.Background()
	w.must(t, "", "verify", "tar:"+w.releaseTar, "--key", w.pinnedKey)
	args := append([]string{"mirror", "tar:" + w.releaseTar, "oci://" + mirrorAddr + "/apps/demo:" + release, "--key", w.pinnedKey, "-o", "json"}, w.mirrorFlags()...)
	if got := jsonDigest(t, w.must(t, "", args...)); got != w.releaseDigest {
		t.Fatalf("imported %s, CI pushed %s", got, w.releaseDigest)
	}
	desc, repo, ok := w.mirrorTag(t)
	if !ok || desc.Digest != w.releaseDigest {
		t.Fatalf("the mirror tags %s, CI pushed %s", desc.Digest, w.releaseDigest)
	}
	// The bytes in the mirror hash to the digests that name them.
	manifest, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(manifest) != w.releaseDigest {
		t.Fatalf("the mirror's manifest hashes to %s, want %s", digest.FromBytes(manifest), w.releaseDigest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		b, err := content.FetchAll(ctx, repo, l)
		if err != nil || digest.FromBytes(b) != l.Digest {
			t.Errorf("blob %s in the mirror: %v", l.Digest, err)
		}
	}

	out, err := w.sync(t)
	if err != nil {
		t.Fatalf("sync --once from the mirror: %v", err)
	}
	var res struct {
		Digest     digest.Digest `json:"digest"`
		Repository string        `json:"repository"`
		ServedBy   string        `json:"servedBy"`
		Verdict    struct {
			Verified bool `json:"verified"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("sync -o json printed %q: %v", out, err)
	}
	if res.Digest != w.releaseDigest || !res.Verdict.Verified || !strings.Contains(res.ServedBy, mirrorAddr) {
		t.Errorf("sync applied %s (verified %v) served by %q; want %s, verified, from %s", res.Digest, res.Verdict.Verified, res.ServedBy, w.releaseDigest, mirrorAddr)
	}
	cm, err := w.clientset.CoreV1().ConfigMaps(appNamespace).Get(ctx, "demo", metav1.GetOptions{})
	if err != nil || cm.Data["release"] != release {
		t.Errorf("ConfigMap %s/demo: %v %v, want release %s", appNamespace, cm.Data, err, release)
	}
	var dep *appsv1.Deployment
	if dep, err = w.clientset.AppsV1().Deployments(appNamespace).Get(ctx, "demo", metav1.GetOptions{}); err != nil {
		t.Fatalf("Deployment %s/demo: %v", appNamespace, err)
	}
	// Not relocated yet: the image is applied as the release names it.
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != appImage {
		t.Errorf("Deployment image %q, want %q as pushed", got, appImage)
	}
	if _, err := w.clientset.CoreV1().ConfigMaps(appNamespace).Get(ctx, "evil", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the attacker's ConfigMap exists: %v", err)
	}
}

// mirrorRepo is a client for the mirror's apps/demo repository.
func (w *world) mirrorRepo(t *testing.T) *remote.Repository {
	t.Helper()
	ref, err := pull.ParseReference("oci://" + mirrorAddr + "/apps/demo:" + release)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, pull.RemoteOptions{CAFile: w.cert.CAFile, Username: mirrorUser, Password: mirrorPassword})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}
