// Command sealift-registry serves the CNCF distribution registry from a
// directory: the registry of an air-gapped site, or one to try sealift out
// against. `sealift registry serve` runs it.
//
// It is a binary of its own so that the registry server's dependencies
// (storage drivers, metrics and tracing exporters, about 200 packages) are
// neither linked into nor initialised by every sealift command: verify and
// pull start in the time their work needs.
//
//	sealift-registry --root /var/lib/sealift-registry [--addr 127.0.0.1:5000]
package main
