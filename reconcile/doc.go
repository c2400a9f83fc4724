// Package reconcile owns the Sync API type and the one walk a revision takes
// through the pipeline: resolve the reference to a digest (pull), verify its
// signatures against the Sync's policy (verify), fetch exactly that digest
// into the cache (pull → cache), render and apply it (deploy), and record the
// result (cache, status).
//
// It is the only package that knows the whole pipeline; every stage it calls
// knows only its own job. The same Reconcile runs once from the CLI
// (`sealift sync --once`) and in the controller's loop (internal/controller,
// which adds no stage of its own); Finalize undoes what a deleted Sync
// applied, unless its spec.prune is false.
//
// # Limits and caveats
//
// Signatures are checked before any content is fetched, so an unsigned
// artifact's layers never enter the cache; what is applied is always read
// back from the cache by the verified digest. Sources are the mirrors in
// order, then the canonical URL; a tag resolved at a mirror is trusted only
// through the signature on the digest it names. With drift: detect, a
// revision already applied is diffed, not re-applied; a new revision is
// applied. Secrets (registry credentials, keys and trust roots by
// secretRef) are read by the in-cluster controller; `sync --once` takes
// files and inline PEM, and refuses secretRef with a clear error.
package reconcile
