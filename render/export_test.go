package render

// Exported for the package's external fuzz targets and tests.
var (
	CheckKustomization = checkKustomization
	RemoteReason       = remoteReason
	KustomizeClones    = kustomizeClones
	KustomizeDownloads = kustomizeDownloads
)
