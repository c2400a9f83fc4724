// Package kubetest starts a real kube-apiserver and etcd for a test package,
// through controller-runtime's envtest, so apply logic is tested against the
// real server-side apply, discovery and admission code rather than a fake.
//
// It owns starting and stopping the control plane and writing an admin
// kubeconfig for CLI tests. It does not own the binaries: `make tools` builds
// them into <module root>/bin/k8s, and KUBEBUILDER_ASSETS overrides that
// directory.
//
// # Limits and caveats
//
// By default only kube-apiserver and etcd run: no controllers, so
// Deployments never get pods, namespaces are never finalized away and garbage
// collection never happens. RunWith with Options.ControllerManager adds
// kube-controller-manager running the namespace and garbage-collector
// controllers; there is still no scheduler or kubelet, so pods never run. One control plane serves a whole test package; tests must use
// distinct namespaces or names. When the binaries are missing Run fails the
// package with a message naming `make tools`; it never skips.
package kubetest
