// Command sealift-registry serves the CNCF distribution registry from a
// directory: the registry of an air-gapped site, or one to try sealift out
// against. `sealift registry serve` and `sealift registry gc` run it.
//
// It is a binary of its own so that the registry server's dependencies
// (storage drivers, metrics and tracing exporters, about 200 packages) are
// neither linked into nor initialised by every sealift command: verify and
// pull start in the time their work needs.
//
//	sealift-registry [serve] --root /var/lib/sealift-registry [--addr 127.0.0.1:5000]
//	        [--tls-cert server.pem --tls-key server-key.pem] [--htpasswd htpasswd] [--read-only]
//	sealift-registry gc --root /var/lib/sealift-registry [--dry-run] [--json]
//
// serve holds the root's lock file (.sealift-registry.lock) shared while it
// runs; gc takes it exclusively and so refuses a root that a server holds,
// and a server does not start on a root that gc is collecting. gc keeps
// every manifest, tagged or not (signatures and other referrers are often
// untagged), and deletes the blobs none of them references.
package main
