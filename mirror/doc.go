// Package mirror carries artifacts, with their cosign signatures, their
// other referrers and the container images their images locks pin, from one
// place to another across an air gap: between registries, OCI image layout
// directories and OCI layouts packed as tar files, in any combination.
//
// Mirror carries one artifact; with Options.WithImages also every image its
// lock (package imagelock) pins, each with every platform of an index, its
// own cosign signatures and referrers. MirrorList carries a release — every
// artifact of a List (a mirror list file: repository and tag, semver range
// or digest, and whether to carry its images) — into one destination in
// one transfer; MirrorRelease carries what such a transfer wrote into a
// layout or tar onwards. Into a registry, artifacts and images land on the
// destination's host (under its path, for a transfer of several) at their
// repository path without the source host: docker.io/library/nginx@sha256:…
// lands at HOST/library/nginx@sha256:…, so a Sync's image mirror map is
// simply {from: docker.io, to: HOST}. In a layout or tar, every entry a
// transfer writes is named in index.json (repository:tag for artifacts,
// repository@digest for images) and annotated with what it is
// (AnnotationKind, AnnotationRepository, AnnotationSource): the index of the
// contents, read back by ReleaseEntries. Artifacts are tagged only once
// everything (images included) was copied. Trust material (public keys, a
// trusted_root.json) may travel in a layout or tar (Options.Trust); the far
// side uses a piece of it only when an operator pinned its fingerprint
// there (PinnedTrust), and ignores the rest.
//
// Mirror resolves the source to a digest once and copies exactly that
// digest's graph. It also copies what a verifier needs for that digest, as
// verify.Discover finds it (the one reader of signatures, so mirror and
// verify agree on what counts): the legacy signature manifest under the tag
// "sha256-<hex>.sig", and the sigstore bundle referrers (read through the
// referrers API where the source has it, else through the "sha256-<hex>"
// referrers tag fallback, or through the layout's index for layouts);
// referrer manifests verify would not count are left behind. At a registry destination the referrers
// are filed under its referrers API or, without one, in the referrers tag
// fallback index, which is merged with what is already there; in a layout
// they are listed in index.json, where package verify finds them as the
// subject's predecessors. A destination that already holds other legacy
// signatures for the digest keeps them: the two signature manifests are
// merged. With a Policy, the digest is verified at the source first and
// nothing is written when the policy rejects it; after the copy it is
// verified again at the destination, so a mirror never reports success for
// signatures a verifier there could not find. The tag is set at the
// destination last, after the content and the signatures were copied (and
// verified there): a mirror that fails on the way leaves blobs, never a tag
// naming an artifact whose signatures are missing.
//
// CheckContent reads every blob of an artifact in a layout or tar against
// its digest: signatures prove only the manifest digest, and a file read in
// place can hold other bytes under a layer's name (sealift verify runs it
// before it says an artifact in a file is verified).
//
// Mirror owns location strings (ParseLocation), the copy and the layout tar
// format. It leaves references, registry clients, verified blob copies and
// limits to package pull, signature formats to internal/cosignfmt and trust
// to package verify: mirroring never makes an artifact trusted, and the
// cluster verifies again what it pulls from the mirror.
//
// # Limits and caveats
//
// Every blob is verified against its digest and size while it streams
// (pull.Fetch), with pull's caps: manifests at limits.MaxManifestBytes,
// layers at limits.MaxLayerBytes, limits.MaxLayers per manifest. At most
// limits.MaxSignatures bundle referrers are copied, and a legacy signature
// manifest may hold at most limits.MaxSignatures layers of at most
// limits.MaxSignaturePayloadBytes, and at most limits.MaxSignatures
// signatures in all are carried for a digest (verify refuses more).
// Referrers that are not signature bundles (SBOMs, other attestations) are
// copied too (Options.ReferrerTypes narrows them by artifact type), at most
// limits.MaxReferrers per digest, each graph with pull's caps; signature
// bundle manifests that are malformed, oversized, missing or do not name
// the digest as their subject are not. Images are copied with larger caps
// than artifacts (limits.MaxImageBlobBytes per blob, limits.MaxImageBytes
// per image), every blob still checked against its digest; an image is
// first resolved at its source by the digest its lock names and must have
// the locked media type and size. A lock entry recorded unresolved, without
// a digest, is reported as skipped. A mirror list is parsed with caps
// (limits.MaxMirrorListBytes, limits.MaxMirrorListEntries) and strictly.
//
// A tar source is read in place, never extracted. Before it is opened, every
// entry is checked: only the layout's own files ("oci-layout", "index.json",
// "blobs/<algorithm>/<hex>") and their directories are accepted, regular
// files only, no absolute paths, "..", backslashes or duplicates, at most
// maxTarEntries entries; the layout files are capped at
// limits.MaxManifestBytes and blobs at limits.MaxImageBlobBytes (a tar may
// carry images; artifact layers are held to limits.MaxLayerBytes again when
// they are copied out). A layout
// directory source is read through an os.Root, so links cannot reach outside
// it, and is never written to. Because oras-go reads every manifest a layout
// holds when it opens one, that graph is walked first, bounded: at most
// maxIndexEntries entries in index.json, maxGraphNodes manifests in all,
// each at most limits.MaxManifestBytes, verified against its digest, and
// naming at most limits.MaxLayers descriptors. A layout destination that
// already exists is held to the same checks. A tar destination is written as a layout in a
// temporary directory beside it, packed with fixed headers (zero times and
// owners, lexical order, a sorted index.json) and renamed into place only
// when everything was copied; an existing file is never overwritten. A
// registry or layout destination that fails half-way keeps the blobs already
// copied: they are content-addressed, and the next run skips them.
package mirror
