package reconcile

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sealift-dev/sealift/verify"
)

// Group, Version and Kind of the Sync resource.
const (
	Group   = "sealift.dev"
	Version = "v1alpha1"
	Kind    = "Sync"
)

// APIVersion is the apiVersion a Sync document carries.
const APIVersion = Group + "/" + Version

// Sync says which signed artifact to apply to a cluster, and how.
type Sync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SyncSpec   `json:"spec"`
	Status SyncStatus `json:"status,omitempty"`
}

// SyncList is a list of Syncs.
type SyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Sync `json:"items"`
}

// SyncSpec is the desired state of a Sync.
type SyncSpec struct {
	Source Source `json:"source"`
	Verify Verify `json:"verify,omitempty"`
	// Path inside the artifact holding the manifests.
	Path string `json:"path,omitempty"`
	// TargetNamespace is set on every namespaced object.
	TargetNamespace string `json:"targetNamespace,omitempty"`
	// Prune deletes objects that left the artifact.
	Prune bool `json:"prune,omitempty"`
	// PruneBudget bounds one prune (default: at most half the inventory,
	// never everything because the artifact rendered empty).
	PruneBudget *PruneBudget `json:"pruneBudget,omitempty"`
	// Adopt decides whether objects that exist but were not applied by this
	// Sync are taken over: "" (objects no Sync owns), "adopt" (any) or
	// "refuse" (none).
	Adopt string `json:"adopt,omitempty"`
	// Force recreates an object whose change touches an immutable field.
	Force bool `json:"force,omitempty"`
	// Wait waits for every applied object to become healthy.
	Wait bool `json:"wait,omitempty"`
	// Timeout bounds one reconcile.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// Interval between reconciles in the controller.
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Drift is "correct" (re-apply) or "detect" (report only).
	Drift string `json:"drift,omitempty"`
	// Suspend stops reconciling.
	Suspend bool `json:"suspend,omitempty"`
	// ServiceAccountName to impersonate when applying.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// DependsOn names Syncs in this namespace that must be Ready before
	// this one is reconciled (controller only).
	DependsOn []LocalObjectReference `json:"dependsOn,omitempty"`
	// RetryInterval caps the back-off between retries after a transient
	// failure (controller only; default: the interval).
	RetryInterval *metav1.Duration `json:"retryInterval,omitempty"`
}

// PruneBudget is the safety rail of prune.
type PruneBudget struct {
	// MaxDeletes refuses a prune deleting more objects; 0 means no count limit.
	MaxDeletes int `json:"maxDeletes,omitempty"`
	// MaxPercent refuses a prune deleting more than this share of the
	// inventory; 0 means the default (50), -1 no limit.
	MaxPercent int `json:"maxPercent,omitempty"`
	// AllowEmpty lets an artifact that renders no objects prune everything.
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// Source locates the artifact.
type Source struct {
	// URL is the canonical repository, oci://host/path.
	URL string `json:"url"`
	Ref Ref    `json:"ref,omitempty"`
	// Mirrors are tried in order before URL; same digest or nothing.
	Mirrors []Mirror `json:"mirrors,omitempty"`
	// Insecure uses plain HTTP (loopback, tests).
	Insecure      bool                  `json:"insecure,omitempty"`
	SecretRef     *LocalObjectReference `json:"secretRef,omitempty"`
	CertSecretRef *LocalObjectReference `json:"certSecretRef,omitempty"`
}

// Ref selects a revision: one of Tag, Semver or Digest.
type Ref struct {
	Tag    string `json:"tag,omitempty"`
	Semver string `json:"semver,omitempty"`
	// SemverFilter is a regexp a tag must match to be considered by Semver.
	SemverFilter string `json:"semverFilter,omitempty"`
	Digest       string `json:"digest,omitempty"`
}

// Mirror is an alternative repository for the same artifact.
type Mirror struct {
	URL string `json:"url"`
}

// LocalObjectReference names an object in the Sync's namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// Verify is the signature policy.
type Verify struct {
	// Mode is "enforce" (default) or "audit".
	Mode string `json:"mode,omitempty"`
	// Threshold is how many distinct keys must have signed (default 1).
	Threshold int `json:"threshold,omitempty"`
	// Keys are public keys; each sets exactly one of its fields.
	Keys []Key `json:"keys,omitempty"`
	// Identities are keyless signer identities.
	Identities []Identity `json:"identities,omitempty"`
	// TrustedRoot pins the keyless trust root.
	TrustedRoot *FileRef `json:"trustedRoot,omitempty"`
	// SignatureRepository holds the signatures when they are not stored
	// beside the artifact (cosign's COSIGN_REPOSITORY).
	SignatureRepository string `json:"signatureRepository,omitempty"`
}

// Key is a public key given by a Secret, a file (CLI mode) or inline PEM.
type Key struct {
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	Path      string                `json:"path,omitempty"`
	PEM       string                `json:"pem,omitempty"`
}

// Identity is a keyless signer, in the Sync exactly as verify reads it:
// issuer and subject, exact or regexp (a regexp must match the whole
// value), and optionally further certificate claims.
type Identity = verify.Identity

// FileRef is a file path (CLI mode) or a Secret.
type FileRef struct {
	Path      string                `json:"path,omitempty"`
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// SyncStatus is the observed state of a Sync, kstatus-compatible.
type SyncStatus struct {
	ObservedGeneration  int64              `json:"observedGeneration,omitempty"`
	Conditions          []metav1.Condition `json:"conditions,omitempty"`
	LastAppliedDigest   string             `json:"lastAppliedDigest,omitempty"`
	LastAttemptedDigest string             `json:"lastAttemptedDigest,omitempty"`
	VerifiedBy          []string           `json:"verifiedBy,omitempty"`
	Inventory           *InventoryStatus   `json:"inventory,omitempty"`
	History             []HistoryEntry     `json:"history,omitempty"`
	// LastAppliedRevision is the tag (when there is one) and digest last
	// applied, tag@sha256:....
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastHandledReconcileAt is the value of the reconcile-requested-at
	// annotation the controller last acted on.
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// ServedBy is the repository the last applied content was fetched from.
	ServedBy string `json:"servedBy,omitempty"`
}

// InventoryStatus summarises what a Sync applied.
type InventoryStatus struct {
	Count   int      `json:"count"`
	Entries []string `json:"entries,omitempty"`
}

// HistoryEntry records one applied revision.
type HistoryEntry struct {
	Digest    string      `json:"digest"`
	AppliedAt metav1.Time `json:"appliedAt"`
}

// Key returns namespace/name, the Sync's identity in the cache.
func (s *Sync) Key() string {
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + s.Name
}
