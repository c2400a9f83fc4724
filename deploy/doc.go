// Package deploy turns an artifact's files into Kubernetes objects and
// applies them to a cluster.
//
// Render reads plain YAML or JSON manifests, or builds a kustomization, from
// a directory confined to the artifact root, and validates every object it
// returns. Manager applies objects with server-side apply under the field
// manager "sealift", forcing ownership of every field the artifact sets, in
// two stages: cluster-scoped definitions (CustomResourceDefinitions,
// Namespaces, ClusterRoles...) first, waiting until the CRDs are established,
// then everything else.
//
// The package does not know where manifests came from (pull, verify and
// cache own that), and it does not keep an inventory or prune: that is a
// later step built on the ChangeSet that ApplyAllStaged returns.
//
// # Limits and caveats
//
// Every manifest file is capped at limits.MaxManifestFileBytes; a path or
// symlink that leaves the root is refused with errdef.ErrUnsafePath.
// Kustomizations are built in memory from a copy of the root with plugins,
// Helm and remote bases refused, so a build never reads the host filesystem
// or the network; hidden directories (".git") are neither rendered nor
// copied into a build. The namespace of namespaced objects is decided at apply
// time from the API server's discovery, so Render leaves metadata.namespace
// as written; a namespaced object with no namespace and no target namespace
// is refused rather than sent to "default". An apply is not atomic: a failure
// in stage 2 leaves stage 1 applied, and the ChangeSet reports what was.
package deploy
