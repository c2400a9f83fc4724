//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Fixed names and ports of the scenario (one node per machine).
const (
	// DirEnv overrides where the node keeps its state (default /tmp/sealift-e2e).
	DirEnv = "SEALIFT_E2E_DIR"
	// BinDirEnv names the directory holding sealift (default <module root>/bin).
	BinDirEnv = "SEALIFT_BIN_DIR"
	// K8sBinEnv names the directory holding the Kubernetes binaries
	// (default $KUBEBUILDER_ASSETS, else <module root>/bin/k8s).
	K8sBinEnv = "K8S_BIN"

	registryPort = "15000"
	appNamespace = "e2e-app"
	syncName     = "app"
	keySecret    = "app-keys"
)

// world is what the scenario's steps share.
type world struct {
	root, bin, k8sBin, dir string
	nodeIP                 string
	localReg, nodeReg      string // the registry as the host and as Pods see it
	kubeconfig             string
	keys                   string
	registry               *exec.Cmd
	sealiftImage           string
	timings                []string
}

func TestE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the e2e test needs root: it runs a kubelet, containerd and runc; run `make test-e2e` as root")
	}
	w := &world{root: moduleRoot(t)}
	w.bin = envOr(BinDirEnv, filepath.Join(w.root, "bin"))
	w.k8sBin = envOr(K8sBinEnv, envOr("KUBEBUILDER_ASSETS", filepath.Join(w.root, "bin", "k8s")))
	w.dir = envOr(DirEnv, "/tmp/sealift-e2e")
	for _, b := range []string{filepath.Join(w.bin, "sealift"), filepath.Join(w.k8sBin, "kubectl"), filepath.Join(w.k8sBin, "kubelet")} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%v: `make test-e2e` builds it (make build, make tools WITH_KUBECTL=1, hack/build-node.sh)", err)
		}
	}
	w.localReg = "127.0.0.1:" + registryPort
	w.kubeconfig = filepath.Join(w.dir, "admin.kubeconfig")
	// The registry and the images live outside the node's directory, which
	// e2e-node.sh removes.
	work := t.TempDir()

	steps := []struct {
		name string
		run  func(*testing.T, *world, string)
	}{
		{"registry up, pause and workload images built and pushed", startRegistry},
		{"node up", nodeUp},
		{"sealift image built and pushed (make image)", buildSealiftImage},
		{"sealift install: the controller Pod is Running and Ready", install},
		{"a signed artifact is applied through sealift create sync, its Pod runs", signedApplied},
		{"an unsigned push is refused: Stalled, workload unchanged", unsignedRefused},
		{"the controller's /metrics, scraped through its Pod, has the reconcile and registry series", metricsScraped},
		{"registry stopped, controller Pod deleted: the new Pod re-applies from its cache and corrects a hand edit", offlineRestart},
		{"two replicas: the leader is killed, the other takes over", leaderHandOver},
	}
	for _, s := range steps {
		start := time.Now()
		if !t.Run(s.name, func(t *testing.T) { s.run(t, w, work) }) {
			w.dumpState(t)
			t.Fatalf("step %q failed; the steps after it depend on it", s.name)
		}
		w.timings = append(w.timings, fmt.Sprintf("%-70s %6.1fs", s.name, time.Since(start).Seconds()))
	}
	t.Log("timings:\n  " + strings.Join(w.timings, "\n  "))
}

func startRegistry(t *testing.T, w *world, work string) {
	// The registry's root is at a fixed place beside the node's directory,
	// so a registry left by a run that was killed outright (it holds a
	// fixed port) is found by its command line and stopped.
	root := w.dir + "-registry"
	stopUnder(root)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	topCleanup(t, func() { stopUnder(root); _ = os.RemoveAll(root) })
	// Pods reach it at the node's address (0.0.0.0): a bridge Pod cannot reach the host's loopback.
	w.registry = exec.Command(filepath.Join(w.bin, "sealift"), "registry", "serve", "--root", filepath.Join(root, "data"), "--addr", "0.0.0.0:"+registryPort)
	logf, err := os.Create(filepath.Join(work, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	w.registry.Stdout, w.registry.Stderr = logf, logf
	if err := w.registry.Start(); err != nil {
		t.Fatal(err)
	}
	w.registryCleanup(t)
	waitHTTP(t, "http://"+w.localReg+"/v2/", 10*time.Second)

	bin := buildWaiter(t, work)
	for _, ref := range []string{w.localReg + "/e2e/pause:1", w.localReg + "/e2e/sleeper:1"} {
		pushWaiterImage(t, bin, ref)
	}
}

// stopUnder kills the processes whose command line names a path under dir
// (processes an earlier run of this test started).
func stopUnder(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir+"/") {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(filepath.Base(filepath.Dir(p)), &pid); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// registryCleanup stops the registry when the test ends (unless a step already did).
func (w *world) registryCleanup(t *testing.T) {
	cmd := w.registry
	topCleanup(t, func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

var cleanups []func()

func topCleanup(_ *testing.T, f func()) { cleanups = append(cleanups, f) }

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if code == 0 {
		code = exitCode
	}
	os.Exit(code)
}

// hostSysctls are the settings the kubelet, the CNI plugins and the node
// script change; teardown must put them back.
var hostSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet"}

func readSysctls() map[string]string {
	m := map[string]string{}
	for _, k := range hostSysctls {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err == nil {
			m[k] = strings.TrimSpace(string(b))
		}
	}
	return m
}

// hostLeftovers lists what the node left on the host after teardown.
func hostLeftovers(dir string, before map[string]string) []string {
	var left []string
	for k, v := range readSysctls() {
		if before[k] != v {
			left = append(left, fmt.Sprintf("sysctl %s is %s, was %s", k, v, before[k]))
		}
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, ":KUBE-") || strings.HasPrefix(line, ":CNI-") || strings.HasPrefix(line, ":SEALIFT-E2E") {
				left = append(left, "iptables chain "+strings.Fields(line)[0][1:])
			}
		}
	}
	if _, err := os.Stat("/sys/class/net/cni0"); err == nil {
		left = append(left, "bridge cni0")
	}
	if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil && strings.Contains(string(mounts), dir+"/") {
		left = append(left, "mounts under "+dir)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods"); len(m) > 0 {
		left = append(left, fmt.Sprintf("cgroups %v", m))
	}
	if m, _ := filepath.Glob("/var/run/netns/cni-*"); len(m) > 0 {
		left = append(left, fmt.Sprintf("network namespaces %v", m))
	}
	if _, err := os.Stat(dir); err == nil {
		left = append(left, "directory "+dir)
	}
	return left
}

// exitCode is set to 1 by a cleanup that finds the host not restored.
var exitCode int

func nodeUp(t *testing.T, w *world, _ string) {
	script := filepath.Join(w.root, "hack", "e2e-node.sh")
	down := func() error {
		cmd := exec.Command("bash", script, "down", w.dir)
		cmd.Env = append(os.Environ(), "K8S_BIN="+w.k8sBin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	}
	// What an earlier crashed run left goes first, so the host's own
	// settings are the ones recorded.
	if err := down(); err != nil {
		t.Fatalf("remove what an earlier run left: %v", err)
	}
	before := readSysctls()
	topCleanup(t, func() {
		if err := down(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: teardown failed: %v\n", err)
			exitCode = 1
		}
		if left := hostLeftovers(w.dir, before); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: teardown left on the host: %s\n", strings.Join(left, "; "))
			exitCode = 1
		} else {
			fmt.Fprintln(os.Stderr, "e2e: teardown restored the host (sysctls, iptables chains, bridge, mounts, cgroups, netns)")
		}
	})
	start := time.Now()
	cmd := exec.Command("bash", script, "up", w.dir, w.localReg)
	cmd.Env = append(os.Environ(), "K8S_BIN="+w.k8sBin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node bring-up: %v", err)
	}
	env, err := os.ReadFile(filepath.Join(w.dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(line, "NODE_IP="); ok {
			w.nodeIP = v
		}
	}
	if w.nodeIP == "" {
		t.Fatalf("no NODE_IP in %s/env", w.dir)
	}
	w.nodeReg = w.nodeIP + ":" + registryPort
	t.Logf("TIMING node up (bring-up to Ready and schedulable): %s", time.Since(start).Round(100*time.Millisecond))
}

func buildSealiftImage(t *testing.T, w *world, _ string) {
	start := time.Now()
	cmd := exec.Command("make", "-s", "image", "IMAGE="+w.localReg+"/sealift/sealift:e2e", "PLATFORMS=linux/amd64")
	cmd.Dir = w.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	digest := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("make image: last line %q is not a digest\n%s", digest, out.String())
	}
	w.sealiftImage = w.localReg + "/sealift/sealift@" + digest
	size := imageSize(t, w.sealiftImage)
	t.Logf("TIMING make image (linux/amd64, pushed): %s; image %s, linux/amd64 compressed size %.1f MB", time.Since(start).Round(100*time.Millisecond), w.sealiftImage, float64(size)/1e6)
}

// imageSize is the linux/amd64 image's config and compressed layers, in bytes.
func imageSize(t *testing.T, ref string) int64 {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatalf("read %s: %v", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		n += s
	}
	return n
}

func install(t *testing.T, w *world, _ string) {
	// The cache's PersistentVolumeClaim needs a volume; a single node has no
	// provisioner, so the test offers a hostPath one.
	pv := filepath.Join(w.dir, "cache-pv")
	if err := os.MkdirAll(pv, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pv, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	w.kubectlApply(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: sealift-e2e-cache
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %q, type: Directory}
`, pv))
	start := time.Now()
	w.sealift(t, "install", "--image", w.sealiftImage, "--timeout", "5m")
	w.kubectl(t, "-n", "sealift-system", "wait", "pod", "-l", "app.kubernetes.io/name=sealift-controller", "--for=condition=Ready", "--timeout=2m")
	phase := w.kubectl(t, "-n", "sealift-system", "get", "pod", "-l", "app.kubernetes.io/name=sealift-controller", "-o", "jsonpath={.items[*].status.phase}")
	if phase != "Running" {
		t.Fatalf("controller Pod phase %q, want Running", phase)
	}
	enforce := w.kubectl(t, "get", "namespace", "sealift-system", "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`)
	if enforce != "restricted" {
		t.Fatalf("sealift-system enforces Pod Security %q, want restricted", enforce)
	}
	t.Logf("TIMING install to controller Ready: %s", time.Since(start).Round(100*time.Millisecond))
}

func signedApplied(t *testing.T, w *world, work string) {
	w.keys = filepath.Join(work, "keys")
	w.sealift(t, "key", "generate", "--output-dir", w.keys)
	w.kubectl(t, "create", "namespace", appNamespace)
	w.kubectl(t, "-n", "sealift-system", "create", "secret", "generic", keySecret, "--from-file=cosign.pub="+filepath.Join(w.keys, "cosign.pub"))

	app := w.writeApp(t, work, "v1", "from-ci-v1")
	start := time.Now()
	w.sealift(t, "push", app, "oci://"+w.localReg+"/e2e/app:v1", "--insecure", "--sign", "--key", filepath.Join(w.keys, "cosign.key"))
	w.sealift(t, "create", "sync", syncName, "-n", "sealift-system", "--url", "oci://"+w.nodeReg+"/e2e/app", "--tag", "v1",
		"--key-secret", keySecret, "--insecure", "--interval", "30s", "--prune")
	w.kubectl(t, "-n", "sealift-system", "wait", "--for=condition=Ready", "sync/"+syncName, "--timeout=3m")
	w.kubectl(t, "-n", appNamespace, "wait", "pod", "-l", "app=sleeper", "--for=condition=Ready", "--timeout=2m")
	t.Logf("TIMING push to applied (Sync Ready and the workload's Pod Ready): %s", time.Since(start).Round(100*time.Millisecond))

	if got := w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.data.message}"); got != "from-ci-v1" {
		t.Fatalf("configmap app-config message %q, want from-ci-v1", got)
	}
	if got := w.kubectl(t, "-n", appNamespace, "get", "pod", "-l", "app=sleeper", "-o", "jsonpath={.items[*].status.phase}"); got != "Running" {
		t.Fatalf("workload Pod phase %q, want Running", got)
	}
	t.Log(w.sealift(t, "get", "syncs", "-n", "sealift-system"))
}

func unsignedRefused(t *testing.T, w *world, work string) {
	deployGen := w.kubectl(t, "-n", appNamespace, "get", "deployment", "sleeper", "-o", "jsonpath={.metadata.generation}")
	cmRV := w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.metadata.resourceVersion}")
	app := w.writeApp(t, work, "v2", "unsigned-v2")
	w.sealift(t, "push", app, "oci://"+w.localReg+"/e2e/app:v2", "--insecure") // no --sign
	w.patchSyncTag(t, "v2")
	w.kubectl(t, "-n", "sealift-system", "wait", "--for=condition=Stalled", "sync/"+syncName, "--timeout=2m")
	reason := w.kubectl(t, "-n", "sealift-system", "get", "sync", syncName, "-o", `jsonpath={.status.conditions[?(@.type=="Stalled")].reason}`)
	msg := w.kubectl(t, "-n", "sealift-system", "get", "sync", syncName, "-o", `jsonpath={.status.conditions[?(@.type=="Stalled")].message}`)
	if reason != "VerificationFailed" {
		t.Fatalf("Stalled reason %q (%s), want VerificationFailed", reason, msg)
	}
	if ready := w.kubectl(t, "-n", "sealift-system", "get", "sync", syncName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`); ready != "False" {
		t.Fatalf("Ready is %q while Stalled, want False", ready)
	}
	t.Logf("refused: %s: %s", reason, msg)
	if got := w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.data.message}"); got != "from-ci-v1" {
		t.Fatalf("configmap message %q after the unsigned push, want from-ci-v1", got)
	}
	if got := w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.metadata.resourceVersion}"); got != cmRV {
		t.Fatalf("configmap resourceVersion %s after the unsigned push, was %s: it was written", got, cmRV)
	}
	if got := w.kubectl(t, "-n", appNamespace, "get", "deployment", "sleeper", "-o", "jsonpath={.metadata.generation}"); got != deployGen {
		t.Fatalf("deployment generation %s after the unsigned push, was %s", got, deployGen)
	}
	// Back to the signed tag for the steps that follow.
	w.patchSyncTag(t, "v1")
	w.kubectl(t, "-n", "sealift-system", "wait", "--for=condition=Ready", "sync/"+syncName, "--timeout=2m")
}

func (w *world) patchSyncTag(t *testing.T, tag string) {
	t.Helper()
	w.kubectl(t, "-n", "sealift-system", "patch", "sync", syncName, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"source":{"ref":{"tag":%q}}}}`, tag))
}

func (w *world) controllerPods(t *testing.T) []string {
	t.Helper()
	out := w.kubectl(t, "-n", "sealift-system", "get", "pod", "-l", "app.kubernetes.io/name=sealift-controller", "-o", `jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}`)
	var live []string // Pods not being deleted
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 1 {
			live = append(live, f[0])
		}
	}
	return live
}

func metricsScraped(t *testing.T, w *world, _ string) {
	pods := w.controllerPods(t)
	if len(pods) != 1 {
		t.Fatalf("controller Pods %v, want one", pods)
	}
	// Through the API server's proxy to the Pod's metrics port.
	body := w.kubectl(t, "get", "--raw", "/api/v1/namespaces/sealift-system/pods/"+pods[0]+":8080/proxy/metrics")
	for _, series := range []string{"sealift_reconcile_total{", "sealift_reconcile_duration_seconds_bucket{", "sealift_registry_requests_total{", "sealift_verify_total{"} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics of %s has no %s series", pods[0], strings.TrimSuffix(series, "{"))
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "sealift_reconcile_total{") || strings.HasPrefix(line, "sealift_registry_requests_total{") || strings.HasPrefix(line, "sealift_verify_total{") {
			t.Log(line)
		}
	}
}

func offlineRestart(t *testing.T, w *world, _ string) {
	if err := w.registry.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w.registry.Wait()
	if resp, err := http.Get("http://" + w.localReg + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the registry still answers at %s after it was stopped", w.localReg)
	}
	old := w.controllerPods(t)
	if len(old) != 1 {
		t.Fatalf("controller Pods %v, want one", old)
	}
	start := time.Now()
	w.kubectl(t, "-n", "sealift-system", "delete", "pod", old[0], "--wait=true")
	w.kubectl(t, "-n", appNamespace, "patch", "configmap", "app-config", "--type=merge", "-p", `{"data":{"message":"hand-edited"}}`)
	var now []string
	eventually(t, 3*time.Minute, "a new controller Pod", func() bool {
		now = w.controllerPods(t)
		return len(now) == 1 && now[0] != old[0]
	})
	w.kubectl(t, "-n", "sealift-system", "wait", "pod", now[0], "--for=condition=Ready", "--timeout=2m")
	var got string
	eventually(t, 3*time.Minute, "the hand edit corrected", func() bool {
		got = w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.data.message}")
		return got == "from-ci-v1"
	})
	t.Logf("TIMING controller restart to re-applied (Pod deleted, registry down, hand edit corrected by %s): %s", now[0], time.Since(start).Round(100*time.Millisecond))
	if resp, err := http.Get("http://" + w.localReg + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatal("the registry answered during the offline step")
	}
	msg := w.kubectl(t, "-n", "sealift-system", "get", "sync", syncName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
	if !strings.Contains(msg, "cached revision") {
		t.Fatalf("Sync Ready message %q does not say the cached revision was applied", msg)
	}
	entries, err := os.ReadDir(filepath.Join(w.dir, "cache-pv"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("the cache volume %s is empty (%v): the cache is not on the volume", filepath.Join(w.dir, "cache-pv"), err)
	}
	t.Log(w.sealift(t, "get", "syncs", "-n", "sealift-system"))
}

func leaderHandOver(t *testing.T, w *world, _ string) {
	const lease = "sealift-controller-leader-election"
	w.kubectl(t, "-n", "sealift-system", "scale", "deployment", "sealift-controller", "--replicas=2")
	var pods []string
	eventually(t, 3*time.Minute, "two controller Pods", func() bool {
		pods = w.controllerPods(t)
		return len(pods) == 2
	})
	for _, p := range pods {
		w.kubectl(t, "-n", "sealift-system", "wait", "pod", p, "--for=condition=Ready", "--timeout=2m")
	}
	holder := func() string {
		return w.kubectl(t, "-n", "sealift-system", "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}")
	}
	podOf := func(identity string) string {
		for _, p := range pods {
			if strings.HasPrefix(identity, p+"_") {
				return p
			}
		}
		return ""
	}
	var leader, first string
	eventually(t, time.Minute, "a leader among the two Pods", func() bool {
		first = holder()
		leader = podOf(first)
		return leader != ""
	})
	other := pods[0]
	if other == leader {
		other = pods[1]
	}
	duration := w.kubectl(t, "-n", "sealift-system", "get", "lease", lease, "-o", "jsonpath={.spec.leaseDurationSeconds}")
	// Kill the leader's process (SIGKILL: no lease release), then remove its
	// Pod so the kubelet does not restart it. The controller manager is
	// paused meanwhile: a replacement Pod from the ReplicaSet would compete
	// for the lease with the other replica, and this step is about the other
	// replica taking over.
	pid := managerPID(t, w.kubectl(t, "-n", "sealift-system", "get", "pod", leader, "-o", "jsonpath={.metadata.uid}"))
	kcm := processWith(t, w.dir+"/kcm.kubeconfig")
	if err := syscall.Kill(kcm, syscall.SIGSTOP); err != nil {
		t.Fatalf("pause kube-controller-manager (pid %d): %v", kcm, err)
	}
	defer func() { _ = syscall.Kill(kcm, syscall.SIGCONT) }()
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the leader %s (pid %d): %v", leader, pid, err)
	}
	w.kubectl(t, "-n", "sealift-system", "delete", "pod", leader, "--grace-period=0", "--force", "--wait=false")
	var now string
	eventually(t, 2*time.Minute, "the other Pod holding the lease", func() bool {
		now = holder()
		return podOf(now) == other
	})
	t.Logf("TIMING leader hand-over: %s killed, %s holds the lease after %s (leaseDurationSeconds %s)", leader, other, time.Since(start).Round(100*time.Millisecond), duration)
	if err := syscall.Kill(kcm, syscall.SIGCONT); err != nil {
		t.Fatalf("resume kube-controller-manager: %v", err)
	}
	// The new leader reconciles: a hand edit is corrected again.
	w.kubectl(t, "-n", appNamespace, "patch", "configmap", "app-config", "--type=merge", "-p", `{"data":{"message":"hand-edited-again"}}`)
	w.kubectl(t, "-n", "sealift-system", "annotate", "sync", syncName, "--overwrite", "sealift.dev/reconcile-requested-at="+time.Now().Format(time.RFC3339Nano))
	eventually(t, 3*time.Minute, "the hand edit corrected by the new leader", func() bool {
		return w.kubectl(t, "-n", appNamespace, "get", "configmap", "app-config", "-o", "jsonpath={.data.message}") == "from-ci-v1"
	})
}

// processWith is the pid of the one process whose command line holds s.
func processWith(t *testing.T, s string) int {
	t.Helper()
	var found []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(filepath.Base(filepath.Dir(p)), &pid); err == nil && pid != os.Getpid() {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		t.Fatalf("processes with %q in their command line: %v, want one", s, found)
	}
	return found[0]
}

// managerPID finds the sealift-controller process of the Pod with this UID
// in the kubelet's cgroups (cgroupfs driver).
func managerPID(t *testing.T, uid string) int {
	t.Helper()
	var found int
	_ = filepath.WalkDir("/sys/fs/cgroup/pids/kubepods", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" || !strings.Contains(p, "pod"+uid) {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err != nil {
				continue
			}
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.HasPrefix(strings.TrimSpace(string(comm)), "sealift-control") {
				found = pid
			}
		}
		return nil
	})
	if found == 0 {
		t.Fatalf("no sealift-controller process in the cgroups of Pod %s", uid)
	}
	return found
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// writeApp writes the artifact's manifests: the workload Deployment (running
// the test's own image, from the registry) and a ConfigMap carrying message.
func (w *world) writeApp(t *testing.T, work, version, message string) string {
	dir := filepath.Join(work, "app-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	manifests := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: %[1]s
data:
  message: %[2]q
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleeper
  namespace: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: sleeper}
  template:
    metadata:
      labels: {app: sleeper}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: sleeper
          image: %[3]s/e2e/sleeper:1
          env:
            - name: MESSAGE
              valueFrom: {configMapKeyRef: {name: app-config, key: message}}
`, appNamespace, message, w.localReg)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (w *world) sealift(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, filepath.Join(w.bin, "sealift"), append(args, w.kubeconfigFlag(args)...), nil)
}

// kubeconfigFlag is --kubeconfig for the commands that talk to the cluster.
func (w *world) kubeconfigFlag(args []string) []string {
	switch args[0] {
	case "install", "create", "get", "reconcile", "tree", "events", "check", "uninstall", "suspend", "resume":
		return []string{"--kubeconfig", w.kubeconfig}
	}
	return nil
}

func (w *world) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, filepath.Join(w.k8sBin, "kubectl"), append([]string{"--kubeconfig", w.kubeconfig}, args...), nil)
}

func (w *world) kubectlApply(t *testing.T, yaml string) {
	t.Helper()
	run(t, filepath.Join(w.k8sBin, "kubectl"), []string{"--kubeconfig", w.kubeconfig, "apply", "-f", "-"}, strings.NewReader(yaml))
}

func run(t *testing.T, bin string, args []string, stdin *strings.Reader) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// dumpState logs what helps to understand a failed step.
func (w *world) dumpState(t *testing.T) {
	if _, err := os.Stat(w.kubeconfig); err != nil {
		return
	}
	for _, args := range [][]string{
		{"get", "nodes,pods,pv,pvc", "-A", "-o", "wide"},
		{"get", "syncs", "-A", "-o", "yaml"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", "sealift-system", "logs", "-l", "app.kubernetes.io/name=sealift-controller", "--tail=50"},
	} {
		cmd := exec.Command(filepath.Join(w.k8sBin, "kubectl"), append([]string{"--kubeconfig", w.kubeconfig}, args...)...)
		out, _ := cmd.CombinedOutput()
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	}
}

const waiterSource = `// Command waiter waits for SIGTERM or SIGINT: the e2e node's pause image and its workload.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// buildWaiter builds the static waiter program and returns its path.
func buildWaiter(t *testing.T, work string) string {
	src := filepath.Join(work, "waiter")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module sealift.local/waiter\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(waiterSource), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "waiter.bin")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the waiter: %v\n%s", err, b)
	}
	return out
}

// pushWaiterImage pushes an image holding only the waiter, as its entrypoint.
func pushWaiterImage(t *testing.T, bin, ref string) {
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "waiter", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: "amd64", OS: "linux",
		Config: v1.Config{Entrypoint: []string{"/waiter"}},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs(t, img)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func diffIDs(t *testing.T, img v1.Image) []v1.Hash {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS.DiffIDs
}

func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving after %s (last error: %v)", url, within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func moduleRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}
