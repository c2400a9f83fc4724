package limits

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
	// MaxDiscoveryBytes caps the API discovery documents read from the API
	// server in one load, all together (a cluster with hundreds of CRDs
	// serves a few MiB; the cap keeps the decoded form far from exhausting a
	// controller's memory).
	MaxDiscoveryBytes int64 = 32 << 20
)
