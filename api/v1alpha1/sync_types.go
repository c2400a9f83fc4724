package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types written to a Sync's status (kstatus-compatible).
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// Reasons of a Sync's conditions.
const (
	ReasonApplied            = "Applied"
	ReasonVerificationFailed = "VerificationFailed"
	ReasonArtifactFailed     = "ArtifactFailed"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonSourceUnavailable  = "SourceUnavailable"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonHealthCheckFailed  = "HealthCheckFailed"
	// ReasonRollbackRefused: the tag or range would move the Sync back (or a
	// mirror alone would move a tag); pin spec.source.ref.digest to roll back.
	ReasonRollbackRefused = "RollbackRefused"
	// ReasonImagesUnavailable: images relocated by spec.images.mirrors are
	// missing from their mirror; nothing was applied. Mirror them and the
	// next reconcile applies.
	ReasonImagesUnavailable = "ImagesUnavailable"
)

// ReconcileRequestAnnotation, set on a Sync to a new value (`sealift
// reconcile sync`, or kubectl annotate), asks the controller to reconcile it
// at once; the controller copies the value to status.lastHandledReconcileAt
// once it has handled the request, so a client knows when to read the
// outcome. It lives with the API so clients need not link the controller.
const ReconcileRequestAnnotation = Group + "/reconcile-requested-at"

// DriftMode says what a reconcile does when the cluster differs from the
// revision already applied.
// +kubebuilder:validation:Enum=correct;detect
type DriftMode string

const (
	// DriftCorrect re-applies the revision, overwriting changes made in the
	// cluster. It is the default.
	DriftCorrect DriftMode = "correct"
	// DriftDetect reports the objects that drifted and leaves them as they are.
	DriftDetect DriftMode = "detect"
)

// VerifyMode says what a failed signature check does.
// +kubebuilder:validation:Enum=enforce;audit
type VerifyMode string

const (
	// VerifyEnforce applies nothing unless the policy holds. It is the default.
	VerifyEnforce VerifyMode = "enforce"
	// VerifyAudit reports the verdict and applies anyway.
	VerifyAudit VerifyMode = "audit"
)

// AdoptPolicy says whether objects that exist in the cluster but were not
// applied by this Sync are taken over.
// +kubebuilder:validation:Enum=adopt;refuse
type AdoptPolicy string

const (
	// AdoptUnowned, the default (unset), adopts objects no Sync owns and
	// refuses those another Sync owns.
	AdoptUnowned AdoptPolicy = ""
	// AdoptAlways adopts every existing object, even another Sync's.
	AdoptAlways AdoptPolicy = "adopt"
	// AdoptNever refuses every existing object this Sync did not apply.
	AdoptNever AdoptPolicy = "refuse"
)

// Sync says which signed artifact to apply to a cluster, and how. The same
// document is a file for `sealift sync --once` and a custom resource.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sls
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].message"
// +kubebuilder:printcolumn:name="Revision",type="string",JSONPath=".status.lastAppliedRevision"
// +kubebuilder:printcolumn:name="Signer",type="string",JSONPath=".status.verifiedBy[0]"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type Sync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SyncSpec `json:"spec"`
	// +optional
	Status SyncStatus `json:"status,omitempty"`
}

// SyncList is a list of Syncs.
//
// +kubebuilder:object:root=true
type SyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Sync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Sync{}, &SyncList{})
}

// SyncSpec is the desired state of a Sync.
type SyncSpec struct {
	Source Source `json:"source"`
	// Verify is the signature policy the artifact's digest must satisfy.
	// +optional
	Verify Verify `json:"verify,omitempty"`
	// Path inside the artifact holding the manifests.
	// +optional
	Path string `json:"path,omitempty"`
	// TargetNamespace is set on every namespaced object.
	// +optional
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// AllowClusterScoped lets a Sync with a targetNamespace apply
	// cluster-scoped objects (CRDs, ClusterRoles, Namespaces).
	// +optional
	AllowClusterScoped bool `json:"allowClusterScoped,omitempty"`
	// Prune deletes objects that left the artifact.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// PruneBudget bounds one prune (default: at most half the inventory,
	// never everything because the artifact rendered empty).
	// +optional
	PruneBudget *PruneBudget `json:"pruneBudget,omitempty"`
	// Adopt decides whether objects that exist but were not applied by this
	// Sync are taken over: unset (objects no Sync owns), "adopt" (any) or
	// "refuse" (none).
	// +optional
	Adopt AdoptPolicy `json:"adopt,omitempty"`
	// Force recreates an object whose change touches an immutable field.
	// +optional
	Force bool `json:"force,omitempty"`
	// Wait waits for every applied object to become healthy.
	// +optional
	Wait bool `json:"wait,omitempty"`
	// Timeout bounds one reconcile (default 5m).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Interval between reconciles. Read by the in-cluster controller only;
	// `sync --once` ignores it and says so.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// RetryInterval between reconciles after a failure (default: Interval).
	// Read by the in-cluster controller only.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`
	// DependsOn lists Syncs in the same namespace that must be ready before
	// this one is reconciled. Read by the in-cluster controller only.
	// +optional
	DependsOn []LocalObjectReference `json:"dependsOn,omitempty"`
	// Drift is "correct" (re-apply, the default) or "detect" (report only).
	// +optional
	Drift DriftMode `json:"drift,omitempty"`
	// Suspend stops reconciling: nothing is resolved, verified or applied,
	// by the controller or by `sync --once`.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// ServiceAccountName to impersonate when applying.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Images relocates container image references to mirrors at render
	// time, by the digests of the artifact's images lock.
	// +optional
	Images *Images `json:"images,omitempty"`
}

// Images configures render-time image relocation.
type Images struct {
	// Mirrors rewrite image references: a reference whose normalised
	// repository (docker.io/library/nginx for "nginx") is From, or starts
	// with From and "/", is pulled from To followed by the rest of its
	// path, by the digest the artifact's images lock (.sealift/images.yaml)
	// records for it. The longest matching From wins. With mirrors set,
	// every image reference is pinned to its locked digest, and in mode
	// enforce an object whose image is not in the lock is refused; before
	// anything is applied, every relocated image must exist in its mirror.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Mirrors []ImageMirror `json:"mirrors,omitempty"`
}

// ImageMirror is one relocation rule.
type ImageMirror struct {
	// From is a registry host (with its port), optionally followed by a
	// repository path prefix: docker.io, docker.io/library, ghcr.io/acme.
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]+)?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*$`
	From string `json:"from"`
	// To is the mirror's registry host, optionally followed by a path
	// prefix: mirror.internal:5000, mirror.internal:5000/hub.
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]+)?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*$`
	To string `json:"to"`
	// Insecure reaches To over plain HTTP when checking that the images
	// exist there (loopback, tests).
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// PruneBudget is the safety rail of prune.
type PruneBudget struct {
	// MaxDeletes refuses a prune deleting more objects; 0 means no count limit.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxDeletes int `json:"maxDeletes,omitempty"`
	// MaxPercent refuses a prune deleting more than this share of the
	// inventory; 0 means the default (50), -1 no limit.
	// +kubebuilder:validation:Minimum=-1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxPercent int `json:"maxPercent,omitempty"`
	// AllowEmpty lets an artifact that renders no objects prune everything.
	// +optional
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// Source locates the artifact.
type Source struct {
	// URL is the canonical repository, oci://host/path.
	// +kubebuilder:validation:Pattern="^oci://.+"
	URL string `json:"url"`
	// Ref selects the revision; unset, the URL's own tag or digest (else
	// "latest") is used. A pointer, so an unset ref is left out when the
	// object is written and the schema's one-of rule is not run on it.
	// +optional
	Ref *Ref `json:"ref,omitempty"`
	// Mirrors are tried in order before URL; same digest or nothing.
	// +optional
	Mirrors []Mirror `json:"mirrors,omitempty"`
	// Insecure uses plain HTTP for URL (loopback, tests).
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// SecretRef names the registry credentials (controller only).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// CertSecretRef names the registry's CA (controller only).
	// +optional
	CertSecretRef *LocalObjectReference `json:"certSecretRef,omitempty"`
}

// Ref selects a revision: exactly one of Tag, Semver or Digest.
//
// +kubebuilder:validation:XValidation:rule="(has(self.tag) ? 1 : 0) + (has(self.semver) ? 1 : 0) + (has(self.digest) ? 1 : 0) == 1",message="set exactly one of tag, semver and digest"
type Ref struct {
	// +kubebuilder:validation:Pattern="^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
	// +optional
	Tag string `json:"tag,omitempty"`
	// Semver is a version constraint (">=1.0.0 <2.0.0", "~1.4"); the
	// highest matching tag is used.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Semver string `json:"semver,omitempty"`
	// SemverFilter is a regexp a tag must match to be considered by Semver.
	// +optional
	SemverFilter string `json:"semverFilter,omitempty"`
	// +kubebuilder:validation:Pattern="^sha256:[a-f0-9]{64}$"
	// +optional
	Digest string `json:"digest,omitempty"`
}

// Mirror is an alternative repository for the same artifact.
type Mirror struct {
	// +kubebuilder:validation:Pattern="^oci://.+"
	URL string `json:"url"`
	// Insecure uses plain HTTP for this mirror only.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
}

// LocalObjectReference names an object in the Sync's namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// Verify is the signature policy.
type Verify struct {
	// Mode is "enforce" (the default) or "audit".
	// +optional
	Mode VerifyMode `json:"mode,omitempty"`
	// Threshold is how many distinct keys must have signed (default 1).
	// +kubebuilder:validation:Minimum=1
	// +optional
	Threshold int `json:"threshold,omitempty"`
	// Keys are public keys; each sets exactly one of its fields.
	// +optional
	Keys []Key `json:"keys,omitempty"`
	// Identities are keyless signer identities.
	// +optional
	Identities []Identity `json:"identities,omitempty"`
	// TrustedRoot pins the keyless trust root.
	// +optional
	TrustedRoot *FileRef `json:"trustedRoot,omitempty"`
	// SignatureRepository holds the signatures when they are not stored
	// beside the artifact (cosign's COSIGN_REPOSITORY).
	// +optional
	SignatureRepository string `json:"signatureRepository,omitempty"`
	// Repositories, when set, are the repositories a signature's claimed
	// docker-reference must name; a signature made for another repository
	// does not count.
	// +kubebuilder:validation:items:MinLength=1
	// +optional
	Repositories []string `json:"repositories,omitempty"`
}

// Key is a public key given by a Secret, a file (CLI mode) or inline PEM.
//
// +kubebuilder:validation:XValidation:rule="(has(self.secretRef) ? 1 : 0) + (has(self.path) ? 1 : 0) + (has(self.pem) ? 1 : 0) == 1",message="set exactly one of path, pem and secretRef"
type Key struct {
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	PEM string `json:"pem,omitempty"`
}

// Identity is a keyless signer: issuer and subject, exact or regexp (a
// regexp must match the whole value), and optionally further certificate
// claims.
type Identity struct {
	// Issuer is the OIDC issuer, e.g. the CI provider's token issuer.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// +optional
	IssuerRegexp string `json:"issuerRegexp,omitempty"`
	// Subject is the certificate's subject alternative name: an e-mail
	// address or a workflow URI.
	// +optional
	Subject string `json:"subject,omitempty"`
	// +optional
	SubjectRegexp string `json:"subjectRegexp,omitempty"`
	// SourceRepository is the source repository URI claim.
	// +optional
	SourceRepository string `json:"sourceRepository,omitempty"`
	// WorkflowRef is the CI workflow ref claim (e.g. refs/heads/main).
	// +optional
	WorkflowRef string `json:"workflowRef,omitempty"`
}

// FileRef is a file path (CLI mode) or a Secret.
type FileRef struct {
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// SyncStatus is the observed state of a Sync, kstatus-compatible.
type SyncStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedDigest is the manifest digest last applied.
	// +optional
	LastAppliedDigest string `json:"lastAppliedDigest,omitempty"`
	// LastAppliedRevision is the tag and digest last applied (tag@digest,
	// or the digest alone when no tag was involved).
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAttemptedDigest is the digest of the last reconcile, applied or not.
	// +optional
	LastAttemptedDigest string `json:"lastAttemptedDigest,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile-request
	// annotation the controller last acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// ServedBy is the repository (a mirror or the canonical one) the last
	// applied content was fetched from.
	// +optional
	ServedBy string `json:"servedBy,omitempty"`
	// VerifiedBy names the keys and identities whose signatures held.
	// +optional
	VerifiedBy []string `json:"verifiedBy,omitempty"`
	// +optional
	Inventory *InventoryStatus `json:"inventory,omitempty"`
	// History lists the last applied revisions, newest first.
	// +optional
	History []HistoryEntry `json:"history,omitempty"`
}

// InventoryStatus summarises what a Sync applied.
type InventoryStatus struct {
	Count int `json:"count"`
	// +optional
	Entries []string `json:"entries,omitempty"`
}

// HistoryEntry records one applied revision and who signed it.
type HistoryEntry struct {
	Digest string `json:"digest"`
	// +optional
	Revision string `json:"revision,omitempty"`
	// Signers are the keys and identities whose signatures held.
	// +optional
	Signers   []string    `json:"signers,omitempty"`
	AppliedAt metav1.Time `json:"appliedAt"`
}
