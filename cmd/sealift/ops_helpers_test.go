package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/internal/controller"
	"github.com/sealift-dev/sealift/internal/kubetest"
)

// crdDir holds the generated Sync CRD.
const crdDir = "../../config/crd"

// withCRD installs the Sync CRD on the test API server, for every test
// that needs it: other tests of the package remove it (uninstall, the
// commands without a CRD), and installing it again is cheap.
func withCRD(t *testing.T) {
	t.Helper()
	if err := kubeEnv.InstallCRDs(crdDir); err != nil {
		t.Fatal(err)
	}
}

func dynClient(t *testing.T) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(kubeEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func makeNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := clientset(t).CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// readSync reads Sync ns/name from the API server.
func readSync(t *testing.T, ns, name string) *sealiftv1.Sync {
	t.Helper()
	u, err := dynClient(t).Resource(syncResource).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Sync %s/%s: %v", ns, name, err)
	}
	s, err := toSync(u)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeStatus replaces the status of Sync ns/name, as the controller would.
func writeStatus(t *testing.T, ns, name string, status sealiftv1.SyncStatus) {
	t.Helper()
	res := dynClient(t).Resource(syncResource).Namespace(ns)
	u, err := res.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		t.Fatal(err)
	}
	u.Object["status"] = st
	if _, err := res.UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of Sync %s/%s: %v", ns, name, err)
	}
}

// keySecret stores a public key PEM as Secret name's cosign.pub in ns, as
// `kubectl create secret generic NAME --from-file=cosign.pub` would.
func keySecret(t *testing.T, ns, name string, pubPEM []byte) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"cosign.pub": pubPEM}}
	if _, err := clientset(t).CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runController runs the in-cluster controller in this process, watching
// namespace ns, until the test ends.
func runController(t *testing.T, ns string) {
	t.Helper()
	log := logr.Discard()
	mgr, err := controller.NewManager(controller.Options{
		RestConfig:         kubeEnv.Config,
		Concurrent:         2,
		MetricsAddr:        "0",
		HealthAddr:         "0",
		WatchNamespace:     ns,
		CacheDir:           t.TempDir(),
		SkipNameValidation: true,
		Logger:             &log,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop within 30s")
		}
	})
}

// waitUntil polls cond until it holds, failing the test after timeout.
var waitUntil = kubetest.Eventually

// manifestsDir writes a Namespace appNS and ConfigMaps named names in it.
func manifestsDir(t *testing.T, appNS string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", appNS)}
	for _, n := range names {
		files[n+".yaml"] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  k: v\n", n, appNS)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// applyYAML sends an object decoded from YAML to the API server with
// server-side apply and strict field validation, as `kubectl apply
// --server-side` does; dryRun asks the server to check without storing.
func applyYAML(t *testing.T, obj map[string]any, dryRun bool) error {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: "kubectl", Force: &force, FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = dynClient(t).Resource(syncResource).Namespace(u.GetNamespace()).Patch(context.Background(), u.GetName(), types.ApplyPatchType, body, opts)
	return err
}

// errText is what the sealift binary prints for err: the error and its
// recommendation.
func errText(err error) string {
	var b bytes.Buffer
	if err != nil {
		printError(&b, err)
	}
	return b.String()
}
