// Package imagelock owns the images lock: the list of container images an
// artifact's manifests run, each pinned to the digest it resolved to when the
// artifact was pushed. `sealift push --images-lock` writes it into the
// artifact's reproducible layer, so the signature over the artifact covers
// the image digests too; the engine reads it back to relocate image
// references to a mirror by digest, and `sealift mirror --with-images` reads
// it to carry the images across an air gap.
//
// # The lock file
//
// The lock lives at Path (.sealift/images.yaml) from the artifact's root:
//
//	apiVersion: sealift.dev/v1alpha1
//	kind: ImagesLock
//	images:
//	- image: ghcr.io/acme/api:1.4.2            # as the manifests write it
//	  digest: sha256:4f1c…                     # what it resolved to at push time
//	  mediaType: application/vnd.oci.image.index.v1+json
//	  size: 1609
//	- image: nginx@sha256:9d3a…                # written with a digest: kept
//	  digest: sha256:9d3a…
//	  mediaType: application/vnd.oci.image.manifest.v1+json
//	  size: 1025
//	- image: registry.internal/tool:dev        # push --allow-unresolved
//	  unresolved: true
//
// One entry per distinct reference as written, sorted by it. digest,
// mediaType and size describe the manifest or index the reference named: an
// index (a multi-platform image) stays an index, never one platform's
// manifest, so every platform can be mirrored and the runtime still picks its
// own. An entry marked unresolved carries no digest unless the reference was
// written with one.
//
// # References
//
// ParseReference normalises a reference as container runtimes do: a name
// whose first element holds no '.' or ':' and is not "localhost" is on
// docker.io, and a single element is under library/ (nginx →
// docker.io/library/nginx); a port belongs to the host (localhost:5000/app);
// no tag means "latest" when resolving (the tag stays empty in the
// Reference); with a digest, the tag is ignored. Lookups in a lock (Index)
// match the reference as written first, then any entry that normalises to
// the same image.
//
// # Discovery
//
// Find and Walk locate image references in rendered objects: the "image" of
// every item of a "containers", "initContainers" or "ephemeralContainers" list
// anywhere below an object's top level — a Pod, every workload's pod
// template (Deployment, StatefulSet, DaemonSet, ReplicaSet,
// ReplicationController, Job, CronJob) and custom resources that embed a pod
// spec. Mirrors holds the relocation rules ({from, to} prefixes) the engine
// rewrites references with.
//
// The package owns the format, discovery, normalisation and resolution
// (Build, with a Resolver; RegistryResolver uses package pull's registry
// client). It leaves packing to package push, relocation of rendered objects
// to package render, and copying images to package mirror.
//
// # Limits and caveats
//
// A lock read from an artifact is untrusted until the artifact's signature
// is checked, and is parsed with caps anyway: limits.MaxImagesLockBytes,
// limits.MaxLockedImages entries, strict decoding (unknown and duplicate
// fields refused), every reference, digest and media type checked. Discovery
// refuses objects nested deeper than limits.MaxObjectDepth and "image" fields
// that are not strings, so no image can be hidden from it. Image fields
// outside container lists (a pipeline's steps, an annotation) are not
// discovered and not relocated.
package imagelock
