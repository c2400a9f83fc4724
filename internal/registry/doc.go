// Package registry runs the CNCF distribution registry as a library: the
// server behind `sealift registry serve` and the in-process registry of the
// tests. Storage is the filesystem under a root directory, or memory.
// Optionally it requires basic auth from an htpasswd file (bcrypt entries),
// serves TLS with a caller-built configuration (which may demand client
// certificates), and puts an http.Handler middleware in front of the
// registry (fault injection in tests).
package registry
