package limits

import "time"

const (
	// MaxManifestBytes caps manifests, indexes and referrer lists (4 MiB, as
	// registries and oras-go do).
	MaxManifestBytes int64 = 4 << 20
	// MaxLayerBytes caps one compressed content layer (256 MiB: rendered
	// manifests are kilobytes; anything near this is hostile or a mistake).
	MaxLayerBytes int64 = 256 << 20
	// MaxFetchBytes caps the bytes one fetch copies, every manifest, config
	// and layer of the graph together (1 GiB: one layer may be
	// MaxLayerBytes, but an index of many manifests of many layers could
	// otherwise fill the cache disk before extraction's caps apply).
	MaxFetchBytes int64 = 1 << 30
	// MaxExtractBytes caps the total bytes written when extracting an
	// artifact, stopping gzip bombs while they inflate (1 GiB).
	MaxExtractBytes int64 = 1 << 30
	// MaxExtractFiles caps the number of entries extracted from an artifact.
	MaxExtractFiles = 100_000
	// MaxLayers caps the layers of one manifest (cosign uses 1000).
	MaxLayers = 1000
	// MaxSignatures caps the signatures considered for one digest (cosign uses 100).
	MaxSignatures = 100
	// MaxSignaturePayloadBytes caps one signature payload (a simple-signing
	// document is well under a kilobyte; bundles a few kilobytes).
	MaxSignaturePayloadBytes int64 = 128 << 10
	// MaxManifestFileBytes caps one Kubernetes manifest file read for rendering (64 MiB).
	MaxManifestFileBytes int64 = 64 << 20
	// MaxRenderFiles caps the files one render reads: manifest files in a
	// plain directory, every file of the artifact for a kustomize build (an
	// application has tens to hundreds; each file costs a decode).
	MaxRenderFiles = 10_000
	// MaxKustomizeInputBytes caps the bytes copied into memory for one
	// kustomize build (256 MiB, the largest layer sealift accepts: an
	// artifact cannot legitimately hold more).
	MaxKustomizeInputBytes int64 = MaxLayerBytes
	// MaxYAMLAliasNodes caps the nodes YAML aliases may add to one file
	// handed to kustomize, beyond the nodes written out (kustomize expands
	// aliases without a limit; a 415-byte "billion laughs" would take
	// gigabytes).
	MaxYAMLAliasNodes = 1_000_000
	// MaxKustomizeBuildTime caps one kustomize build (a large build takes
	// seconds; past this the build is abandoned and reported).
	MaxKustomizeBuildTime = 2 * time.Minute
	// MaxKeyFileBytes caps one public or private key, read from a file, a
	// Sync's inline PEM or a Secret (PEM keys are a few hundred bytes; no
	// option overrides it).
	MaxKeyFileBytes int64 = 64 << 10
	// MaxHtpasswdBytes caps the htpasswd file a registry authenticates
	// with (a bcrypt entry is about 70 bytes: this is thousands of users).
	MaxHtpasswdBytes int64 = 1 << 20
	// MaxTrustedRootBytes caps one trusted_root.json, from a file or a
	// Secret (the public-good instance's is about 10 KiB; a private one with
	// several authorities and logs stays far below this; no option
	// overrides it).
	MaxTrustedRootBytes int64 = 1 << 20
	// MaxDiscoveryBytes caps the API discovery documents read from the API
	// server in one load, all together (a cluster with hundreds of CRDs
	// serves a few MiB; the cap keeps the decoded form far from exhausting a
	// controller's memory).
	MaxDiscoveryBytes int64 = 32 << 20
)

// MaxVerdictAge is how long a cached signature verdict is reused while the
// registry can be reached; past it the digest's signatures are checked
// again. A day bounds how long a signature deleted from the registry, or a
// trusted root rotated in place, keeps counting, at one extra round of
// signature reads per digest and day. Offline, a verdict of any age is used
// (the cache must keep the cluster correctable through an outage).
const MaxVerdictAge = 24 * time.Hour

const (
	// MaxRegistryRequestsInFlight caps the requests one process keeps in
	// flight to one registry host, across every Sync (a controller with
	// many workers would otherwise open workers × fan-out connections to a
	// registry that may be the only one an air-gapped site has; no option
	// overrides it).
	MaxRegistryRequestsInFlight = 32
	// MaxAPIRequestsInFlight caps the requests the engine keeps in flight
	// to the API server, across every Sync and apply (each apply keeps up
	// to its own concurrency in flight; without a shared cap, workers ×
	// that; the controller's --max-api-requests overrides it).
	MaxAPIRequestsInFlight = 64
)

const (
	// MaxImagesLockBytes caps an artifact's images lock (.sealift/images.yaml):
	// an entry is about 200 bytes, so a mebibyte holds thousands, far more
	// than any application runs.
	MaxImagesLockBytes int64 = 1 << 20
	// MaxLockedImages caps the entries of one images lock, and the distinct
	// image references one push resolves.
	MaxLockedImages = 5_000
	// MaxObjectDepth caps how deep image discovery walks one rendered object
	// (a CronJob's containers sit 6 levels down). A deeper object is refused
	// rather than left partly unsearched, so an image cannot hide below the
	// walk.
	MaxObjectDepth = 64
)

const (
	// MaxImageBlobBytes caps one layer or config of a container image copied
	// by `sealift mirror --with-images` (16 GiB: the largest layers in
	// common use, machine-learning runtimes, are a few GiB).
	MaxImageBlobBytes int64 = 16 << 30
	// MaxImageBytes caps the bytes of one container image copied, every
	// platform of an index together (64 GiB).
	MaxImageBytes int64 = 64 << 30
	// MaxMirrorListBytes caps a mirror list file (1 MiB).
	MaxMirrorListBytes int64 = 1 << 20
	// MaxMirrorListEntries caps the artifacts of one mirror list.
	MaxMirrorListEntries = 1_000
	// MaxReferrers caps the referrers other than signature bundles (SBOMs,
	// attestations) carried for one digest.
	MaxReferrers = 1_000
)
