package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestVersion: the client's version (the link-time one when set), and the
// controller's from its Deployment's version label, "not installed"
// without one; --client reaches no cluster, and an unreachable cluster is
// an error after the client's version.
func TestVersion(t *testing.T) {
	old := version
	version = "v9.8.7"
	t.Cleanup(func() { version = old })
	closed := closedKubeconfig(t, "")

	out, err := runCLI(t, "version", "--client", "--kubeconfig", closed)
	if err != nil || !strings.HasPrefix(out, "client: v9.8.7 (") || strings.Contains(out, "controller") {
		t.Errorf("version --client: %v\n%s", err, out)
	}

	out, err = runCLI(t, "version", "--kubeconfig", closed)
	if err == nil || !strings.HasPrefix(out, "client: v9.8.7 (") || !strings.Contains(errText(err), "pass --client") {
		t.Errorf("version with an unreachable cluster: err = %v\n%s", err, out)
	}

	const ns = "ops-version"
	makeNamespace(t, ns)
	kube := []string{"--kubeconfig", kubeEnv.Kubeconfig, "-n", ns}
	out, err = runCLI(t, append([]string{"version"}, kube...)...)
	if err != nil || !strings.Contains(out, "\ncontroller: not installed (no Deployment ops-version/sealift-controller)\n") {
		t.Errorf("version without a controller: %v\n%s", err, out)
	}

	replicas := int32(2)
	labels := map[string]string{"app.kubernetes.io/name": controllerDeployment}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: controllerDeployment, Namespace: ns, Labels: map[string]string{versionLabel: "v1.2.3"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "registry.example.com/sealift:v1.2.3"}}},
			},
		},
	}
	if _, err := clientset(t).AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, append([]string{"version"}, kube...)...)
	if err != nil || !strings.Contains(out, "\ncontroller: v1.2.3 (Deployment ops-version/sealift-controller, image registry.example.com/sealift:v1.2.3, 0/2 ready)\n") {
		t.Errorf("version with a controller: %v\n%s", err, out)
	}

	out, err = runCLI(t, append([]string{"version", "-o", "json"}, kube...)...)
	if err != nil {
		t.Fatal(err)
	}
	var info versionInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if info.Client.Version != "v9.8.7" || info.Client.GoVersion == "" || info.Controller == nil || !info.Controller.Installed ||
		info.Controller.Version != "v1.2.3" || info.Controller.Replicas != 2 || info.Controller.Ready != 0 {
		t.Errorf("version -o json = %s", out)
	}
}
