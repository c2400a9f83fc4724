// Package push packs a directory of rendered Kubernetes manifests into an OCI
// artifact in the format `flux push artifact` writes, and pushes and tags it.
//
// The artifact is an OCI image manifest whose config has media type
// application/vnd.cncf.flux.config.v1+json and holds "{}", with a single
// application/vnd.cncf.flux.content.v1.tar+gzip layer (or another tar+gzip
// media type such as the plain OCI layer, see Options.LayerMediaType) and the
// annotations org.opencontainers.image.source, .revision and .created plus the
// caller's.
//
// The input is a directory, a single file, or (Options.Kustomize) a
// kustomization built the way the engine builds one, by the deploy package's
// confined renderer, and packed as the single file manifests.yaml. Paths can
// be left out with .gitignore-style patterns (Options.Ignore).
//
// With Options.ImagesLock, the packed content is rendered the way the
// engine renders it (at the root or Options.ImagesPaths), the images its
// objects run are locked by the caller's function (package imagelock finds
// and resolves them), and the lock is packed as .sealift/images.yaml in the
// same reproducible layer, at the place a walk of the tree would put it, so
// the artifact's digest, and any signature over it, covers the image
// digests. A tree that holds .sealift itself is refused then.
//
// Push owns packing, pushing and tagging. Blobs a destination reports it
// already holds are not uploaded again. It does not sign (the cosign formats
// live elsewhere and run on the digest Push returns), resolve references or
// hold credentials: the caller hands it a target.
//
// # Limits and caveats
//
// Packing is reproducible: the same tree and the same Options give the same
// layer and manifest digests, whatever the files' times, owners or modes and
// wherever the tree lives. To get that, the archive keeps only names, sizes,
// contents and whether a file is executable: entries are in lexical order
// starting with ".", owned by 0:0 with no names, dated the Unix epoch, with
// mode 0644 (0755 for directories and executable files). The gzip stream uses
// a fixed level and no name or time. Only regular files and directories are
// packed; .git, .svn and .hg are skipped, as is whatever Options.Ignore
// matches (negation and inner "**" are refused), and a symlink or any other
// special file is an error naming its path, so that what is pushed is exactly
// what the tree shows. The layer is built in memory and capped at
// limits.MaxLayerBytes, the size pull accepts.
package push
