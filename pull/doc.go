// Package pull reads artifacts from OCI registries: it parses references,
// builds authenticated registry clients, resolves a tag or digest to a
// manifest descriptor, copies exactly that digest's graph into a local target
// (the cache, or memory), and extracts its content layers into a directory.
//
// Pull owns references, auth (docker config, credential helpers, static
// credentials), plain-HTTP opt-in, retries, hard limits on untrusted input
// and safe extraction. It does not decide trust: signatures are the verify
// package's job, and the caller must verify the digest Resolve returns before
// using what Fetch and Extract produce. It does not store anything beyond the
// target it is handed.
//
// The shapes Extract accepts are the Flux artifact (one
// application/vnd.cncf.flux.content.v1.tar+gzip layer), plain OCI tar and
// tar+gzip layers (ORAS, Argo CD), Helm chart content layers, several content
// layers unioned in order, and an image index holding a single artifact
// manifest. Anything else fails with errdef.ErrUnsupportedMediaType naming the
// media types found.
//
// # Limits and caveats
//
// Every blob is read through a reader that checks its descriptor's size and
// digest as it streams and rejects trailing data. Manifests and indexes are
// capped at limits.MaxManifestBytes, layers at limits.MaxLayerBytes, the
// layers or children of one manifest at limits.MaxLayers, and an index may
// not hold another index. Extraction caps total bytes (limits.MaxExtractBytes)
// and entries (limits.MaxExtractFiles) while it inflates, accepts only
// regular files and directories, rejects absolute paths, "..", backslashes and
// duplicate entries, and works in a temporary directory beside the
// destination that is renamed into place only once every layer has been
// written and verified; the destination must not exist or be empty.
// File modes are normalised to 0644 (0755 when any execute bit is set) and
// directories to 0755; ownership and times are not restored. A layer typed as
// a tar archive must be one: a raw file pushed under a tar media type is
// reported as a malformed archive.
package pull
