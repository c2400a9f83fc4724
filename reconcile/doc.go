// Package reconcile owns the one walk a revision takes through the pipeline
// for a Sync (the API type lives in api/v1alpha1; reconcile turns it into
// each stage's options): resolve the reference to a digest (pull), verify its
// signatures against the Sync's policy (verify), fetch exactly that digest
// into the cache (pull → cache), render and apply it (deploy), and record the
// result (cache, status). With spec.images.mirrors, the render relocates
// every image reference by the artifact's images lock (RenderOptions:
// refusing images the lock does not pin in mode enforce, reason
// VerificationFailed), and before anything is applied every relocated image
// is looked up (HEAD, by digest) in its mirror; all that are missing are
// reported at once with reason ImagesUnavailable and nothing is applied.
// The offline re-apply of a cached revision skips that lookup: the revision
// ran before, and an outage must not stop drift correction.
//
// It is the only package that knows the whole pipeline; every stage it calls
// knows only its own job. The same Reconcile runs once from the CLI
// (`sealift sync --once`) and in the controller's loop (internal/controller,
// which adds no stage of its own); Finalize undoes what a deleted Sync
// applied, unless its spec.prune is false. Every failure carries the reason
// its conditions are set under (ReasonError; ReasonOf reads it through any
// wrapping), so status, events and metrics name it alike; whether it is
// terminal is errdef.IsTerminal's to say.
//
// # Limits and caveats
//
// Signatures are checked before any content is fetched, so an unsigned
// artifact's layers never enter the cache; what is applied is always read
// back from the cache by the verified digest. Content is fetched from the
// mirrors in order, then the canonical URL; tags and semver ranges are
// resolved at the canonical URL while it answers, and the Outcome says when a
// mirror had to (ResolvedAtMirror). A range never moves below the version
// last applied for it, and a mirror alone never moves a tag away from the
// digest last applied for it: both are refused with errdef.ErrRollback
// (reason RollbackRefused) until the canonical registry answers; pinning
// spec.source.ref.digest is the explicit rollback. Revisions recorded before
// the selector was kept are not compared. The url names the revision
// (":tag", "@digest") or spec.source.ref does, not both; neither means
// latest. Plain HTTP is per source (spec.source.insecure for the url, each
// mirror's own insecure); a signature repository is plain HTTP only on the
// url's registry when that is insecure. Credentials given to the engine go
// to the url's registry only. With drift: detect, a
// revision already applied is diffed, not re-applied; a new revision is
// applied. Secrets (registry credentials, keys and trust roots by
// secretRef) are read by the in-cluster controller; `sync --once` takes
// files and inline PEM, and refuses secretRef with a clear error. A
// suspended Sync is not reconciled: Reconcile returns Outcome.Suspended and
// touches neither registry, cache, cluster nor status. Interval,
// retryInterval and dependsOn are the controller's (ControllerOnlyFields
// names those set, for the CLI to note that it ignores them).
package reconcile
