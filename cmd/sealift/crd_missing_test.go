package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sealift-dev/sealift/errdef"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// TestCommandsWithoutCRD: on a cluster that does not serve Syncs, every
// command that reads or writes one says the CRD is missing and how to
// install it, rather than that a Sync is missing. The CRD is removed for
// the test and put back after it.
func TestCommandsWithoutCRD(t *testing.T) {
	withCRD(t)
	const ns = "ops-nocrd"
	makeNamespace(t, ns)
	ctx := context.Background()
	dyn := dynClient(t)
	// The CRD goes only when its Syncs have: release the finalizers of
	// Syncs whose controller has stopped.
	all, err := dyn.Resource(syncResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.Items {
		if len(s.GetFinalizers()) == 0 {
			continue
		}
		if _, err := dyn.Resource(syncResource).Namespace(s.GetNamespace()).Patch(ctx, s.GetName(), types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dyn.Resource(crdResource).Delete(ctx, "syncs.sealift.dev", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kubeEnv.InstallCRDs(crdDir); err != nil {
			t.Errorf("put the CRD back: %v", err)
		}
	})
	waitUntil(t, time.Minute, "the API server to stop serving Syncs", func() (bool, string) {
		_, err := dyn.Resource(syncResource).Namespace(ns).List(ctx, metav1.ListOptions{})
		return apierrors.IsNotFound(err), "list: " + errString(err)
	})

	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	for _, args := range [][]string{
		{"get", "syncs"},
		{"get", "syncs", "app"},
		{"reconcile", "sync", "app"},
		{"suspend", "sync", "app"},
		{"resume", "sync", "app", "--timeout", "5s"},
		{"tree", "sync", "app"},
		{"events", "sync", "app"},
		{"create", "sync", "app", "--url", "oci://registry.example.com/apps/app", "--tag", "1", "--key-secret", "k"},
	} {
		_, err := run(t, append(args, kube...)...)
		if !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), "does not serve sealift.dev/v1alpha1 syncs: the Sync CRD is not installed") {
			t.Errorf("%v: err = %v", args, err)
		}
		if !strings.Contains(errText(err), "Recommendation: install sealift with 'sealift install'") {
			t.Errorf("%v: no recommendation:\n%s", args, errText(err))
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
