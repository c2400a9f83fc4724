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

	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/kubetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
)

// The outer run (in the root namespace) builds the network and runs the
// test binary again inside the cluster namespace, where the scenario runs
// against its own API server.
const (
	stageEnv = "SEALIFT_AIRGAP_STAGE" // "inside" in the re-run, "image" to build and push the image
	dirEnv   = "SEALIFT_AIRGAP_DIR"   // the outer run's working directory
	// imageOutEnv names the file the "image" stage writes the pushed
	// image's descriptor to (JSON).
	imageOutEnv = "SEALIFT_AIRGAP_IMAGE_OUT"
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
	// appRepository is where the test's image lives, on the upstream and,
	// without the upstream host, on the mirror.
	appRepository = "library/demo-web"
	// appImage is the image the release's Deployment runs, as its
	// manifests write it: a tag on the upstream, which push --images-lock
	// pins to a digest and the Sync relocates to the mirror.
	appImage = upstreamAddr + "/" + appRepository + ":1.0"
	// appLayerBytes is the size of the image's one random layer.
	appLayerBytes              = 64 << 10
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
	switch os.Getenv(stageEnv) {
	case "inside":
		scenario(t)
		return
	case "image":
		pushImage(t)
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
	image                   ocispec.Descriptor // the image CI built and pushed upstream
	releaseTar              string
	tamperedTar, swappedTar string
	imageTamperedTar        string // the release with a changed image layer
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
		{"connected: CI builds, pushes and signs an image and a release locking it, and mirrors both to a tar", connectedSide},
		{"gap: the disconnected side has no route to the upstream", noRoute},
		{"disconnected: the hardened mirror registry serves", startMirror},
		{"a changed blob is refused, nothing applied", changedBlobRefused},
		{"a changed image blob is refused, nothing applied", changedImageBlobRefused},
		{"a swapped trust root is refused, nothing applied", swappedTrustRootRefused},
		{"the release and its image cross with their digests and the Sync applies it from the mirror, image relocated", releaseApplied},
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

// pushImage is the "image" stage, run in the CI namespace: it builds a
// small image with go-containerregistry, pushes it to the upstream as
// appImage and writes its descriptor to $SEALIFT_AIRGAP_IMAGE_OUT.
func pushImage(t *testing.T) {
	desc := imagetest.Image(t, appImage, appLayerBytes)
	b, err := json.Marshal(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(imageOutEnv), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildImage runs the "image" stage in the CI namespace (the test itself
// runs on the disconnected side) and returns the pushed image's descriptor.
func (w *world) buildImage(t *testing.T) ocispec.Descriptor {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(w.conn, "image.json")
	cmd := exec.Command("ip", "netns", "exec", nsCI, self, "-test.run", "^TestAirGap$", "-test.timeout", "5m")
	cmd.Env = append(os.Environ(), stageEnv+"=image", imageOutEnv+"="+outFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build and push %s from %s: %v\n%s", appImage, nsCI, err, out)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var desc ocispec.Descriptor
	if err := json.Unmarshal(b, &desc); err != nil || desc.Digest.Validate() != nil {
		t.Fatalf("image descriptor %q: %v", b, err)
	}
	return desc
}

// transfer is what `sealift mirror -o json` prints for a release: the
// artifacts and images carried.
type transfer struct {
	Artifacts []struct {
		Repository string        `json:"repository"`
		Digest     digest.Digest `json:"digest"`
		Tag        string        `json:"tag"`
	} `json:"artifacts"`
	Images []struct {
		Image       string        `json:"image"`
		Destination string        `json:"destination"`
		Digest      digest.Digest `json:"digest"`
		Signatures  int           `json:"signatures"`
		Referrers   int           `json:"referrers"`
	} `json:"images"`
}

func parseTransfer(t *testing.T, out string) transfer {
	t.Helper()
	var tr transfer
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("mirror -o json printed %q: %v", out, err)
	}
	return tr
}

// connectedSide: the upstream registry serves; CI builds a small image,
// pushes it upstream and signs it, pushes and signs the release, whose
// Deployment runs that image, with its images lock, and carries the release
// (a mirror list of one artifact) with its signature and the image (with
// the image's signature) into a tar in the shared directory, with the
// public key beside it for convenience.
// The attacker's material for the tamper steps is made here too.
func connectedSide(t *testing.T, w *world) {
	w.serveIn(t, nsUpstream, "--root", filepath.Join(w.conn, "upstream-root"), "--addr", upstreamAddr)
	keys := mkdir(t, w.conn, "keys")
	w.must(t, nsCI, "key", "generate", "--output-dir", keys)
	w.image = w.buildImage(t)
	imageRef := "oci://" + upstreamAddr + "/" + appRepository + "@" + w.image.Digest.String()
	w.must(t, nsCI, "sign", imageRef, "--key", filepath.Join(keys, "cosign.key"), "--insecure")
	app := manifests(t, mkdir(t, w.conn, "app"), "demo", release)
	ref := "oci://" + upstreamAddr + "/apps/demo:" + release
	w.releaseDigest = jsonDigest(t, w.must(t, nsCI, "push", app, ref, "--images-lock", "--sign", "--key", filepath.Join(keys, "cosign.key"), "--insecure", "-o", "json"))
	list := filepath.Join(w.conn, "release.yaml")
	writeFile(t, list, fmt.Sprintf("apiVersion: sealift.dev/v1alpha1\nkind: MirrorList\nartifacts:\n  - {repository: %s/apps/demo, tag: %q}\n", upstreamAddr, release))
	w.releaseTar = filepath.Join(w.shared, "release.tar")
	tr := parseTransfer(t, w.must(t, nsCI, "mirror", "-f", list, "tar:"+w.releaseTar, "--with-images", "--key", filepath.Join(keys, "cosign.pub"), "--insecure", "-o", "json"))
	if len(tr.Artifacts) != 1 || tr.Artifacts[0].Digest != w.releaseDigest || tr.Artifacts[0].Repository != "apps/demo" {
		t.Fatalf("the tar holds %+v, CI pushed apps/demo as %s", tr.Artifacts, w.releaseDigest)
	}
	if len(tr.Images) != 1 || tr.Images[0].Image != appImage || tr.Images[0].Digest != w.image.Digest || tr.Images[0].Signatures+tr.Images[0].Referrers == 0 {
		t.Fatalf("the tar carries images %+v; want %s as %s with its signature", tr.Images, appImage, w.image.Digest)
	}
	if _, ok := readTarBlobs(t, w.releaseTar)["blobs/sha256/"+w.image.Digest.Encoded()]; !ok {
		t.Fatalf("the tar has no blob for the image manifest %s", w.image.Digest)
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
	// A changed image: the image's layer with one byte flipped; the
	// artifact and its lock are untouched.
	w.imageTamperedTar = filepath.Join(w.shared, "image-tampered", "release.tar")
	flipLayerByte(t, w.releaseTar, w.imageTamperedTar, w.image.Digest)

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
// only layer of the manifest named manifest changed, keeping every name and
// size.
func flipLayerByte(t *testing.T, src, dst string, manifest digest.Digest) {
	t.Helper()
	blobs := readTarBlobs(t, src)
	var m ocispec.Manifest
	if err := json.Unmarshal(blobs["blobs/sha256/"+manifest.Encoded()], &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s in %s: %v (%d layers)", manifest, src, err, len(m.Layers))
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
  images:
    mirrors:
      - {from: %q, to: %q}
`, mirrorAddr, release, w.pinnedKey, upstreamAddr, mirrorAddr))
	_, err := w.clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sealift-system"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Wrong credentials are refused by the mirror.
	if _, err := w.sealift(t, "", "mirror", "tar:"+w.releaseTar, "oci://"+mirrorAddr+"/probe", "--ca-file", w.cert.CAFile, "--creds", mirrorUser+":wrong"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Errorf("a push to the mirror with a wrong password: %v, want unauthorized", err)
	}
}

// mirrorTag resolves the mirror's apps/demo tag; ok is false when it does
// not exist.
func (w *world) mirrorTag(t *testing.T) (ocispec.Descriptor, *remote.Repository, bool) {
	t.Helper()
	return w.mirrorResolve(t, "apps/demo", release)
}

// mirrorImage resolves the test's image in the mirror by its digest, where
// the transfer places it: the mirror's host, the upstream's repository
// path; ok is false when it is not there.
func (w *world) mirrorImage(t *testing.T) (ocispec.Descriptor, *remote.Repository, bool) {
	t.Helper()
	return w.mirrorResolve(t, appRepository, w.image.Digest.String())
}

func (w *world) mirrorResolve(t *testing.T, repository, reference string) (ocispec.Descriptor, *remote.Repository, bool) {
	t.Helper()
	repo := w.mirrorRepo(t, repository)
	desc, err := repo.Resolve(context.Background(), reference)
	if err != nil {
		if errors.Is(err, orasErrdef.ErrNotFound) {
			return ocispec.Descriptor{}, repo, false
		}
		t.Fatalf("resolve %s in the mirror's %s: %v", reference, repository, err)
	}
	return desc, repo, true
}

// verifyRow is one row of `sealift verify tar:RELEASE -o json`.
type verifyRow struct {
	Kind   string        `json:"kind"`
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
	Result string        `json:"result"`
	Reason string        `json:"reason"`
}

// verifyRelease checks a release tar in place with the pinned key,
// artifact and image, and returns its rows by kind ("artifact", "image").
func (w *world) verifyRelease(t *testing.T, tarFile string) (map[string]verifyRow, error) {
	t.Helper()
	out, err := w.sealift(t, "", "verify", "tar:"+tarFile, "--key", w.pinnedKey, "--with-images", "-o", "json")
	var rows []verifyRow
	if jerr := json.Unmarshal([]byte(out), &rows); jerr != nil {
		t.Fatalf("verify -o json printed %q: %v (%v)", out, jerr, err)
	}
	byKind := map[string]verifyRow{}
	for _, r := range rows {
		if _, dup := byKind[r.Kind]; dup {
			t.Fatalf("verify lists two %ss: %+v", r.Kind, rows)
		}
		byKind[r.Kind] = r
	}
	return byKind, err
}

// importRelease carries a release tar (artifact and image) into the
// mirror: each lands at the mirror's host under prefix (none: at the
// host's root) followed by its repository path.
func (w *world) importRelease(t *testing.T, tarFile, prefix string, extra ...string) (string, error) {
	t.Helper()
	dst := "oci://" + mirrorAddr
	if prefix != "" {
		dst += "/" + prefix
	}
	args := append([]string{"mirror", "tar:" + tarFile, dst, "--key", w.pinnedKey}, extra...)
	return w.sealift(t, "", append(args, w.mirrorFlags()...)...)
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
	rows, err := w.verifyRelease(t, w.tamperedTar)
	if a := rows["artifact"]; err == nil || a.Result != "FAILED" || !strings.Contains(a.Reason, "digest") {
		t.Errorf("sealift verify of the changed tar: %v, artifact %+v, want a digest mismatch", err, a)
	}
	_, err = w.importRelease(t, w.tamperedTar, "")
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

// changedImageBlobRefused: the transfer whose image layer was changed (the
// artifact, its lock and signatures intact) fails verification with
// --with-images in place, since the image is signed, and the import, which
// then leaves neither the image nor the artifact's tag in the mirror; the
// Sync finds nothing to apply.
//
// The import goes to a path of its own (refusedPrefix): blobs a refused
// import copied before it failed stay in the mirror (content-addressed; the
// next run skips them), and the changed-blob step's import may have copied
// the genuine image layer already, which this import would then skip
// instead of reading the changed copy.
func changedImageBlobRefused(t *testing.T, w *world) {
	const refusedPrefix = "refused"
	rows, err := w.verifyRelease(t, w.imageTamperedTar)
	if a := rows["artifact"]; a.Result != "verified" {
		t.Errorf("the artifact of the tar with a changed image: %+v, want it verified (only the image was changed)", a)
	}
	if i := rows["image"]; err == nil || i.Digest != w.image.Digest || i.Result != "FAILED" || !strings.Contains(i.Reason, "digest") {
		t.Errorf("sealift verify --with-images of the tar with a changed image: %v, image %+v, want a digest mismatch", err, i)
	}
	_, err = w.importRelease(t, w.imageTamperedTar, refusedPrefix)
	if err == nil || !strings.Contains(err.Error(), "digest") || !strings.Contains(err.Error(), appRepository) {
		t.Errorf("import of the tar with a changed image: %v, want a digest mismatch naming %s", err, appRepository)
	}
	if desc, _, ok := w.mirrorResolve(t, refusedPrefix+"/"+appRepository, w.image.Digest.String()); ok {
		t.Errorf("the mirror holds the image %s after a refused import", desc.Digest)
	}
	for _, path := range []string{refusedPrefix + "/apps/demo", "apps/demo"} {
		if desc, _, ok := w.mirrorResolve(t, path, release); ok {
			t.Errorf("the mirror tags %s:%s as %s after a refused import", path, release, desc.Digest)
		}
	}
	if _, err := w.sync(t); err == nil {
		t.Error("the Sync succeeded with nothing tagged in the mirror")
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

// releaseApplied: the genuine transfer, artifact and image, verifies
// against the pinned key and is imported into the mirror by the digests CI
// pushed: the artifact at apps/demo, the image at the mirror's host under
// the upstream's repository path, with its signature. The Sync resolves the
// artifact there, by that digest, and applies it with the Deployment's
// image relocated to the mirror by the digest the signed lock pins.
func releaseApplied(t *testing.T, w *world) {
	ctx := context.Background()
	rows, err := w.verifyRelease(t, w.releaseTar)
	if err != nil || rows["artifact"].Result != "verified" || rows["artifact"].Digest != w.releaseDigest ||
		rows["image"].Result != "verified" || rows["image"].Digest != w.image.Digest {
		t.Fatalf("sealift verify --with-images of the genuine tar: %v, %+v; want the artifact and the signed image verified", err, rows)
	}
	out, err := w.importRelease(t, w.releaseTar, "", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	mirroredImage := mirrorAddr + "/" + appRepository + "@" + w.image.Digest.String()
	tr := parseTransfer(t, out)
	if len(tr.Artifacts) != 1 || tr.Artifacts[0].Digest != w.releaseDigest || tr.Artifacts[0].Repository != "apps/demo" {
		t.Fatalf("imported artifacts %+v, CI pushed apps/demo as %s", tr.Artifacts, w.releaseDigest)
	}
	if len(tr.Images) != 1 || tr.Images[0].Digest != w.image.Digest || tr.Images[0].Destination != mirroredImage {
		t.Fatalf("imported images %+v, want %s", tr.Images, mirroredImage)
	}
	desc, repo, ok := w.mirrorTag(t)
	if !ok || desc.Digest != w.releaseDigest {
		t.Fatalf("the mirror tags %s, CI pushed %s", desc.Digest, w.releaseDigest)
	}
	// The bytes in the mirror hash to the digests that name them.
	checkGraph(t, repo, desc, w.releaseDigest)
	img, imgRepo, ok := w.mirrorImage(t)
	if !ok || img.Digest != w.image.Digest || img.Size != w.image.Size {
		t.Fatalf("the mirror's %s has %s (%d bytes), CI pushed %s (%d bytes)", appRepository, img.Digest, img.Size, w.image.Digest, w.image.Size)
	}
	checkGraph(t, imgRepo, img, w.image.Digest)
	// The image's signature came along and verifies there with the pinned
	// key.
	w.must(t, "", append([]string{"verify", "oci://" + mirroredImage, "--key", w.pinnedKey}, w.mirrorFlags()...)...)

	out, err = w.sync(t)
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
	// Relocated: the mirror's reference, by the digest CI pushed and the
	// signed lock pins, not the upstream tag the manifests write.
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != mirroredImage {
		t.Errorf("Deployment image %q, want %q", got, mirroredImage)
	}
	if _, err := w.clientset.CoreV1().ConfigMaps(appNamespace).Get(ctx, "evil", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the attacker's ConfigMap exists: %v", err)
	}
}

// checkGraph fetches the manifest desc names from repo and every blob it
// lists, and checks each hashes to the digest that names it; the manifest
// must be want.
func checkGraph(t *testing.T, repo *remote.Repository, desc ocispec.Descriptor, want digest.Digest) {
	t.Helper()
	ctx := context.Background()
	manifest, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(manifest) != want {
		t.Fatalf("the mirror's manifest hashes to %s, want %s", digest.FromBytes(manifest), want)
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
}

// mirrorRepo is a client for a repository of the mirror.
func (w *world) mirrorRepo(t *testing.T, repository string) *remote.Repository {
	t.Helper()
	ref, err := pull.ParseReference("oci://" + mirrorAddr + "/" + repository)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, pull.RemoteOptions{CAFile: w.cert.CAFile, Username: mirrorUser, Password: mirrorPassword})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}
