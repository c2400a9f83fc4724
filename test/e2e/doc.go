// Package e2e holds the end-to-end test on a real single-node cluster
// (`make test-e2e`), built only with the e2e build tag: it needs root,
// because it runs a kubelet, containerd and runc that change the host, and
// fixed ports (the kubelet's 10248/10250, the API server's 16443, etcd's
// 12379/12380, the registry's 15000), so it is not part of `go test ./...`
// and one runs per machine.
//
// hack/e2e-node.sh brings the node up (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd with runc and a CNI
// bridge, a kubelet) with its state under one directory, and tears it down
// before bring-up (an earlier crashed run) and after the test, restoring the
// host: sysctls, iptables chains, mounts, kubepods cgroups, the bridge and
// the CNI network namespaces.
//
// The test builds its own small images with go-containerregistry (a static
// Go program that waits for a signal: the node's pause image and the
// workload's image) and the sealift image (`make image`), pushes them into a
// `sealift registry serve` on the host, runs `sealift install`, and checks
// with the controller running as a Pod that a signed artifact applied
// through `sealift create sync` becomes Ready and its Deployment's Pod runs.
package e2e
