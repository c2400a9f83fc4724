// Package controller is sealift's in-cluster engine: a controller-runtime
// manager whose one controller reconciles Sync objects by calling
// reconcile.Engine.Reconcile, the same walk `sealift sync --once` takes.
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
// # Drift
//
// An edit or deletion of an applied object reconciles its Sync about a
// second later (driftDelay), so drift: correct puts it back and drift:
// detect reports it (Ready message, a Drifted event when the set of
// drifted objects changes) without waiting for the interval. The objects
// are watched through a cache of their own that lists only objects with
// sealift's ownership labels (and, with --watch-namespace, only those of
// that namespace's Syncs), keeps metadata only and drops managed fields.
// There is one watch per kind, started the first time a Sync's inventory
// names it and kept for the controller's lifetime.
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
// never for an unchanged reconcile. The drift watches need list and watch
// on every kind the Syncs apply; a kind the controller may not watch logs
// errors and is corrected at the interval only. Status-only writes of
// objects with a generation do not count as drift, and with
// --watch-label-selector the drift cache still holds the objects of every
// shard's Syncs (their events reach Syncs this controller does not serve
// and are dropped). Metrics are labelled by the Sync's
// namespace and name, whose series are dropped when the Sync is deleted.
package controller
