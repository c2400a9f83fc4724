// Package airgap holds the air-gap end-to-end test (`make test-airgap`),
// built only with the airgap build tag: it needs root, because it creates
// network namespaces and veth pairs, so it is not part of `go test ./...`,
// and run without root it fails saying so.
//
// Four namespaces make two sides joined by nothing but a shared directory.
// The connected side is an upstream registry (sl-ag-upstream, 198.18.0.1)
// and a CI host (sl-ag-ci, 198.18.0.2) on one veth pair: CI pushes and signs
// a release and mirrors it into a tar file in the shared directory. The
// disconnected side is a hardened `sealift registry serve` (sl-ag-mirror,
// 198.18.1.1, TLS from a test CA and htpasswd) and a cluster host
// (sl-ag-cluster, 198.18.1.2) on another pair, where the test itself runs
// with a real kube-apiserver and etcd on the namespace's loopback, imports
// the tar into the mirror and applies it with `sealift sync --once`. All
// addresses exist only inside the namespaces (198.18.0.0/15 is set aside
// for such test networks); no side has a route to the other.
//
// The test checks that the disconnected side cannot reach the upstream,
// that the digest is the same at every step across the gap, that the Sync
// applies from the mirror, and that a tampered transfer (a changed blob; a
// release re-signed by another key whose public half replaced the one in
// the transfer) is refused with nothing applied. Namespaces and veths left
// by an earlier run that crashed are removed before a run, and everything
// is removed after it.
package airgap
