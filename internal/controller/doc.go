// Package controller is sealift's in-cluster engine: a controller-runtime
// manager whose one controller reconciles Sync objects by calling
// reconcile.Reconciler.Reconcile, the same walk `sealift sync --once` takes.
// It is a thin adapter, as kustomize-controller is over fluxcd/pkg/ssa: it
// owns the loop (watches, requeue with jitter, back-off, the finalizer,
// suspend, dependsOn, the reconcile-requested-at annotation), resolves the
// Secrets a Sync names in its own namespace, writes the status subresource,
// and records events and Prometheus metrics. It reimplements no stage.
//
// One cache.Cache serves every Sync. It is opened by a leader-only runnable,
// so with leader election a standby replica never takes the directory's
// lock, and only the leader collects the cache's garbage.
//
// # Requeue and back-off
//
// A Sync that applied comes back after spec.interval (default 5m) ±10%.
// A transient failure (registry or API server unreachable) is retried with
// exponential back-off from 1s, capped by spec.retryInterval (default the
// interval). A terminal failure (errdef.IsTerminal: a bad signature, a
// malformed artifact, an impossible policy) stalls the Sync: it is returned
// as controller-runtime's TerminalError, so nothing retries it with back-off;
// a change of generation or of an annotation brings it back at once, and it
// is looked at again once per interval, because its tag may move to a good
// artifact without the Sync changing. Status-only updates do not trigger
// reconciles.
//
// # Limits and caveats
//
// In-cluster, a Sync may not name files: spec.verify.keys[].path and
// spec.verify.trustedRoot.path are refused (terminal), because the files
// would be the controller's own (its service account token, another
// tenant's mounted secret). Keys, trust roots, registry credentials and CAs
// come from Secrets in the Sync's namespace (keys: every data key ending in
// .pub; trust root: trusted_root.json; credentials: a dockerconfigjson
// Secret; TLS: ca.crt, tls.crt, tls.key), read uncached. With
// --no-cross-namespace-refs a Sync whose targetNamespace is another
// namespace is refused. Events are recorded when the state changes (a new
// digest, readiness restored, objects changed or pruned, a new failure),
// never for an unchanged reconcile. Metrics are labelled by the Sync's
// namespace and name, whose series are dropped when the Sync is deleted.
package controller
