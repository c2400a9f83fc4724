// Package registry runs the CNCF distribution registry as a library: the
// server behind `sealift registry serve` and the in-process registry of the
// tests. Storage is the filesystem under a root directory, or memory.
// Optionally it requires basic auth from an htpasswd file (bcrypt entries,
// checked at start: a missing, empty or non-bcrypt file is refused, where
// the registry's own controller would create a missing one with a random
// password), serves TLS with a caller-built configuration (ServerTLS loads
// one from PEM files; it may demand client certificates), refuses every
// write in read-only mode (405, UNSUPPORTED, naming the mode), and puts an
// http.Handler middleware in front of the registry (fault injection in
// tests). Layer URLs (non-distributable layers) are accepted in pushed
// manifests when they are http or https; the registry never fetches them.
//
// GC collects a filesystem root's unreferenced blobs with the registry's
// own mark and sweep, keeping every manifest revision, tagged or not, so
// signatures and other referrers survive; its deletes go through a
// recording driver, which reports exactly what was (or, in a dry run,
// would be) deleted and refuses to delete anything but blobs and blob
// links. A server holds its root's LockFile shared and GC holds it
// exclusively, so neither runs under the other (ErrRootInUse).
//
// The distribution registry behind it (v3.1) has no referrers API: clients
// fall back to the referrers tag schema, which sealift's mirror and verify
// read and write. It also acknowledges blobs pushed under sha512 digests
// with their sha256 digest. `make test-conformance` runs the OCI
// conformance suite with those two parts switched off.
package registry
