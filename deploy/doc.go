// Package deploy applies Kubernetes objects to a cluster and keeps track of
// what it applied; the render package turns an artifact into those objects.
//
// Manager applies objects with server-side apply under the field
// manager "sealift", forcing ownership of every field the artifact sets, in
// two stages: cluster-scoped definitions (CustomResourceDefinitions,
// Namespaces, ClusterRoles...) first, waiting until the CRDs are established,
// then everything else. The ChangeSet names, per object, the action, whether
// the object was adopted and which other field managers it took fields from.
//
// A Manager holds a connection to one cluster (HTTP client, discovery,
// field owner, concurrency, impersonated service account) and is meant to
// live as long as the process; With gives a Manager sharing it the
// ApplyOptions of one sync (owner, target namespace, adoption, force), as
// fluxcd's ssa.ResourceManager takes ApplyOptions per apply.
//
// With ApplyOptions.Owner set, a Manager works for one sync: it stamps the
// ownership labels (LabelSyncName, LabelSyncNamespace) on every object,
// applies the adoption policy to existing objects that lack them, and keeps
// the sync's Inventory in a ConfigMap in the sync's namespace
// (ReadInventory, WriteInventory), so a lost local cache cannot orphan
// objects. Prune deletes what left the inventory, behind safety rails (empty
// set, budget, opt-out annotation, and only objects carrying the sync's
// ownership labels). Wait waits for kstatus health; Diff predicts an apply
// and a prune with server-side dry-run, which is also how drift is
// detected, with Secret values masked as kubectl diff masks them.
//
// Impersonating a service account (ManagerOptions.ServiceAccount) is the
// real security boundary of a sync: RBAC then decides what it may create,
// change and delete. TargetNamespace, AllowClusterScoped and the adoption
// policy are guard rails against mistakes and against an artifact reaching
// further than its sync meant; they run in the engine, with the engine's
// own rights when no service account is set, and cannot stop an artifact
// from doing whatever those rights allow inside the namespace it targets.
//
// The package does not know where manifests came from (pull, verify, cache
// and render own that); the cache's copy of the inventory is the caller's.
//
// # Limits and caveats
//
// The namespace of namespaced objects is decided at apply time from the API
// server's discovery (render leaves metadata.namespace as written); a
// namespaced object with no namespace and no target namespace
// is refused rather than sent to "default".
//
// Refused before anything is applied, with errdef.ErrPolicyViolation: a
// ConfigMap named like an inventory ("sealift-inventory-*", in any
// namespace), because an artifact shipping one could list any object for
// the next prune; with a target namespace and without AllowClusterScoped,
// every cluster-scoped object, because a sync confined to a namespace could
// otherwise bind itself to cluster-admin or rewrite a platform ClusterRole;
// under the default adoption policy, an existing cluster-scoped object that
// no sync owns (adoption of those needs AdoptAlways). Prune deletes only
// objects that carry the sync's ownership labels, whatever its inventory
// lists, and WriteInventory compares with the record in the cluster, so a
// record edited behind sealift's back is put back.
//
// An apply is validated whole before it writes: every object is sent as a
// server-side dry run first, so one the API server refuses applies nothing.
// Two kinds of objects cannot be checked that early and are checked after
// stage 1 is written, before any of stage 2 is: objects in a Namespace the
// set creates (the server refuses any request in a namespace that does not
// exist, before it validates the object) and custom resources whose CRD is
// in the set and not yet established (the server knows no schema for them).
// A refusal then leaves stage 1 applied. Role bindings that refer to a role
// of the set are checked and written last in their stage, once the role
// exists, since the server checks a binding against its role's rules; a
// refusal of one leaves the rest of its stage applied. A failure that only
// shows when an object is written (a conflicting writer, an admission
// webhook that answers dry runs differently, an API server going away) can
// still leave part of a stage applied. In every case the ChangeSet returned
// with the error lists what was applied, so the caller records it in the
// inventory and nothing is orphaned. An object Force recreates is not
// dry-run as a new object: the dry run of the change is what refused it.
//
// Applied objects carry the annotation AnnotationAppliedHash. Live objects
// are listed per resource and namespace, so an unchanged object whose live
// copy still holds every applied field costs no request of its own; one
// that differs costs a dry-run apply, and a write only when that shows a
// change. Diff uses the same path, so drift detection is a few lists plus
// one dry run per suspect object; there is no watch-backed cache yet. An
// object the listing shows absent costs its apply alone, answered with the
// object's metadata only. Unless the rest.Config sets one, there is no
// client-side request rate: ManagerOptions.Concurrency bounds the requests
// in flight, and the API server's Priority and Fairness (or, without it, its
// in-flight limits) answers any excess with 429 and Retry-After, which
// client-go honours. The bound is per Manager, not per process. Inventories
// hold at most MaxInventoryEntries objects. Force recreates an object with a
// background delete: its dependents are collected by the garbage collector,
// not waited for. Adoption and prune decisions trust the ownership labels,
// which anyone allowed to edit an object can change: someone who can label
// an object can hand it to a sync's prune, which is why impersonation, not
// labels, is the boundary. AnnotationAppliedHash on a Secret is a truncated
// SHA-256 of the applied object, values included; a low-entropy value can
// be guessed from it by anyone who can read the Secret's metadata.
package deploy
