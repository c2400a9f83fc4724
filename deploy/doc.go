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
// With ManagerOptions.Owner set, a Manager works for one sync: it stamps the
// ownership labels (LabelSyncName, LabelSyncNamespace) on every object,
// applies the adoption policy to existing objects that lack them, and keeps
// the sync's Inventory in a ConfigMap in the sync's namespace
// (ReadInventory, WriteInventory), so a lost local cache cannot orphan
// objects. Prune deletes what left the inventory, behind safety rails (empty
// set, budget, opt-out annotation, ownership labels on Namespaces and CRDs).
// Wait waits for kstatus health; Diff predicts an apply and a prune with
// server-side dry-run, which is also how drift is detected. Impersonating a
// service account (ManagerOptions.ServiceAccount) lets RBAC bound a sync.
//
// The package does not know where manifests came from (pull, verify, cache
// and render own that); the cache's copy of the inventory is the caller's.
//
// # Limits and caveats
//
// The namespace of namespaced objects is decided at apply time from the API
// server's discovery (render leaves metadata.namespace as written); a
// namespaced object with no namespace and no target namespace
// is refused rather than sent to "default". An apply is not atomic: a failure
// in stage 2 leaves stage 1 applied, and the ChangeSet reports what was.
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
// which anyone allowed to edit an object can change.
package deploy
