// Package airgap holds the air-gap end-to-end test (`make test-airgap`),
// built only with the airgap build tag: it needs root, because it creates
// network namespaces and veth pairs, so it is not part of `go test ./...`,
// and run without root it fails saying so.
//
// Four namespaces make two sides joined by nothing but a shared directory.
// The connected side is an upstream registry (sl-ag-upstream, 198.18.0.1)
// and a CI host (sl-ag-ci, 198.18.0.2) on one veth pair. There the test
// builds a small image with go-containerregistry (the test binary re-run in
// sl-ag-ci), pushes it to the upstream and CI signs it; CI pushes and signs
// a release whose Deployment runs that image by tag, with `push
// --images-lock`, so the signed artifact pins the image's digest, and
// carries the release, its signature and the image with its signature into
// a tar file in the shared directory (`mirror -f LIST --with-images`). The
// disconnected side is a hardened `sealift registry serve` (sl-ag-mirror,
// 198.18.1.1, TLS from a test CA and htpasswd) and a cluster host
// (sl-ag-cluster, 198.18.1.2) on another pair, where the test itself runs
// with a real kube-apiserver and etcd on the namespace's loopback, verifies
// the tar in place, imports artifact and image into the mirror (the image
// at the mirror's host under the upstream's repository path) and applies
// the release with `sealift sync --once`, whose spec.images.mirrors maps the
// upstream host to the mirror. All addresses exist only inside the
// namespaces (198.18.0.0/15 is set aside for such test networks); no side
// has a route to the other.
//
// The test checks that the disconnected side cannot reach the upstream,
// that the artifact's and the image's digests are the same at every step
// across the gap (and every blob in the mirror hashes to its name), that the
// image's signature verifies in the mirror, that the Sync applies from the
// mirror with the Deployment's image rewritten to the mirror's reference by
// the locked digest, and that a tampered transfer (a changed artifact blob;
// a changed image blob; a release re-signed by another key whose public
// half replaced the one in the transfer) is refused with nothing applied.
// Namespaces and veths left by an earlier run that crashed are removed
// before a run, and everything is removed after it.
package airgap
