// Package render turns an artifact into Kubernetes objects: it extracts the
// artifact's content layers from any content fetcher (the cache, a registry,
// an OCI layout) into a directory, and renders a directory into validated
// objects, from plain YAML or JSON manifests or by building a kustomization.
// Post-render transforms run on the result: image relocation
// (Options.Images) first, then the caller's (Options.Transforms).
//
// Image relocation reads the images lock the artifact's root holds
// (imagelock.Path) and rewrites every image reference package imagelock
// finds: one the lock pins becomes name@digest, at the mirror the longest
// matching rule names (ImageOptions.Mirrors) or else at its own repository,
// so what runs is exactly what was locked, and signed, at push time. With
// ImageOptions.RequireLocked (mode enforce) a reference the lock does not
// pin refuses the whole render, naming every such object, field and image
// at once (*ImagesNotLockedError, errdef.ErrImageNotLocked): a manifest
// change cannot smuggle in an image nobody signed for. Without it such a
// reference keeps its tag, moved to a mirror when a rule matches.
//
// Extract writes the layers of an artifact manifest; the manifest itself is
// read through pull.ReadArtifact and every blob through pull.OpenBlob, so
// size and digest are checked as the bytes stream. Render reads a directory
// confined to its root. FromArtifact does both in a scratch directory. The
// package owns neither trust nor the cluster: the caller verifies the digest
// first (verify), and deploy applies what Render returns. Nothing here talks
// to a cluster.
//
// The shapes Extract accepts are the Flux artifact (one
// application/vnd.cncf.flux.content.v1.tar+gzip layer), plain OCI tar and
// tar+gzip layers (ORAS directories, Argo CD), ORAS files (a layer with an
// org.opencontainers.image.title annotation, not marked for unpacking and not
// typed tar+gzip, written as the file it names), Helm chart content layers,
// several content layers unioned in order, and an image index holding a single
// artifact manifest. Anything else fails with errdef.ErrUnsupportedMediaType
// naming the media types found.
//
// # Limits and caveats
//
// Extraction caps total bytes (limits.MaxExtractBytes) and entries
// (limits.MaxExtractFiles) while it inflates, accepts only regular files and
// directories, rejects absolute paths, "..", backslashes and duplicate
// entries, and works in a temporary directory beside the destination that is
// renamed into place only once every layer has been written and verified; the
// destination must not exist or be empty. File modes are normalised to 0644
// (0755 when any execute bit is set) and directories to 0755; ownership and
// times are not restored. A layer typed as a tar archive without a title must
// be one: a raw file pushed under a tar media type and no file name is
// reported as a malformed archive.
//
// Rendering reads at most limits.MaxRenderFiles files, each at most
// limits.MaxManifestFileBytes; a path or symlink that leaves the root is
// refused with errdef.ErrUnsafePath; hidden directories (".git") are skipped.
// Render leaves metadata.namespace as written: deploy decides namespaces from
// discovery.
//
// An artifact never runs code or reaches the network. Kustomize decides from
// the raw text of an entry whether to run git (bases, components and plugin
// entries: any ssh://, https://, http:// or file:// URL, "git::", user@host
// and github.com/ forms; its ?ref= becomes a git argument) or an HTTP GET
// (any file field that parses as an http or https URL), and krusty offers no
// way to replace its cloner or HTTP client. So before the build, every
// kustomization in the artifact and every builtin plugin configuration
// (inline, or in any file) is checked on the raw entries with kustomize's own
// test (resource.Origin.Append, which runs git.NewRepoSpecFromURL, and
// loader.IsRemoteFile) and, beyond it, every entry holding a control
// character, a colon, "?", "//", a backslash or a user@ prefix is refused
// with errdef.ErrUnsupportedMediaType naming the entry: a local file name
// needs none of them. Entries kustomize loads as bases must exist in the
// artifact. Plugins other than the builtins, Helm charts and the
// HelmChartInflationGenerator are refused. Should a future kustomize add a
// remote form these checks do not know, its clone still needs a "git" binary
// on PATH: run the engine where there is none (a distroless image has none;
// TestBuildWithoutGitOnPath shows the clone then fails without running
// anything). A kustomize upgrade must re-check these rules against its
// loader.
//
// Kustomize expands YAML aliases without limit, so every file of the
// artifact, and every inline patch and plugin configuration, is decoded
// first with the alias-limited decoder plain rendering uses, and parsed with
// kustomize's own YAML parser counting the nodes aliases add (at most
// limits.MaxYAMLAliasNodes); a bomb fails with errdef.ErrSizeExceedsLimit.
// The build's input is capped at limits.MaxKustomizeInputBytes, its time at
// limits.MaxKustomizeBuildTime and its output at MaxFileBytes. Krusty takes
// no context: a build that overruns is abandoned and its goroutine ends when
// kustomize returns. Overlays that reuse one base many times can still
// multiply objects within those bounds.
package render
