package reconcile

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

// DefaultTimeout bounds one reconcile when the Sync sets none: long enough
// for a large apply, short enough that a stuck registry does not hold a worker.
const DefaultTimeout = 5 * time.Minute

// Drift modes of a Sync.
const (
	DriftCorrect = "correct"
	DriftDetect  = "detect"
)

// Condition types and reasons written to a Sync's status.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"

	ReasonApplied            = "Applied"
	ReasonVerificationFailed = "VerificationFailed"
	ReasonArtifactFailed     = "ArtifactFailed"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonSourceUnavailable  = "SourceUnavailable"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonHealthCheckFailed  = "HealthCheckFailed"
)

// Reconciler walks one Sync through the pipeline. Its zero value is not
// usable: set Cache and RestConfig.
type Reconciler struct {
	// Cache holds verified artifacts and per-sync state.
	Cache *cache.Cache
	// RestConfig reaches the API server that objects are applied to.
	RestConfig *rest.Config
	// Remote carries credentials shared by every Sync (the CLI's flags);
	// plain HTTP is taken from each Sync's spec.
	Remote pull.RemoteOptions
}

// Result is what one reconcile did.
type Result struct {
	// Repository the artifact came from, host/path.
	Repository string `json:"repository"`
	// Digest applied (or attempted, on failure).
	Digest string `json:"digest"`
	// Tag the reference resolved through (a semver range's choice
	// included); empty when the Sync names a digest.
	Tag string `json:"tag,omitempty"`
	// Annotations of the artifact's manifest (org.opencontainers.image.created,
	// .revision, .source, ...), once it is in the cache.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Verdict of the signature check.
	Verdict verify.Verdict `json:"verdict"`
	// VerdictCached is true when the verdict came from the cache.
	VerdictCached bool `json:"verdictCached"`
	// Drifted lists the objects whose live state differs from the applied
	// revision, with drift: detect (nothing is re-applied then).
	Drifted []string `json:"drifted,omitempty"`
	// ServedBy is the repository (a mirror or the canonical one) the
	// content was fetched from; empty when it came from the cache alone.
	ServedBy string `json:"servedBy,omitempty"`
	// Offline is true when the revision was taken from the cache alone.
	Offline bool `json:"offline"`
	// Inventory is every object the Sync now owns in the cluster.
	Inventory []string `json:"inventory,omitempty"`
	// Changes is the apply change set.
	Changes []deploy.Change `json:"changes"`
}

// Reconcile resolves, verifies, fetches, renders and applies s once, and
// records the outcome in the cache and in s.Status. Nothing is applied unless
// the policy holds (mode enforce) for exactly the digest applied.
func (r *Reconciler) Reconcile(ctx context.Context, s *Sync) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	res, reason, err := r.reconcile(ctx, s)
	r.setStatus(s, res, reason, err)
	return res, err
}

// ReconcileOffline re-applies the last revision the cache holds for s,
// without touching any registry.
func (r *Reconciler) ReconcileOffline(ctx context.Context, s *Sync) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	res, reason, err := r.reconcileOffline(ctx, s)
	r.setStatus(s, res, reason, err)
	return res, err
}

func (r *Reconciler) reconcile(ctx context.Context, s *Sync) (Result, string, error) {
	res, desc, policyHash, reason, err := r.fetchVerified(ctx, s)
	if err != nil {
		return res, reason, err
	}
	if s.Spec.Drift == DriftDetect {
		if last, ok, err := r.Cache.LastApplied(ctx, s.Key()); err == nil && ok && last.Manifest.Digest == desc.Digest {
			// Nothing new to apply: report how the cluster differs from the
			// applied revision, and leave it as it is.
			res.Drifted, reason, err = r.drift(ctx, s, desc)
			if err != nil {
				return res, reason, err
			}
			return res, ReasonApplied, nil
		}
	}
	inventory, changes, reason, err := r.apply(ctx, s, desc)
	res.Changes, res.Inventory = changes, inventory
	if err != nil {
		return res, reason, err
	}
	err = r.Cache.Commit(ctx, cache.Revision{
		Sync:       s.Key(),
		Repository: res.Repository,
		Manifest:   desc,
		Verdict:    cacheVerdict(res, policyHash),
		Inventory:  inventory,
		AppliedAt:  time.Now().UTC(),
	})
	if err != nil {
		return res, ReasonApplyFailed, fmt.Errorf("record applied revision: %w", err)
	}
	return res, ReasonApplied, nil
}

// annotations reads the annotations of the cached manifest desc (re-checked
// on read); they are informational, so a manifest that cannot be read has none.
func (r *Reconciler) annotations(ctx context.Context, desc ocispec.Descriptor) map[string]string {
	if desc.Size > limits.MaxManifestBytes {
		return nil
	}
	data, err := content.FetchAll(ctx, r.Cache, desc)
	if err != nil {
		return nil
	}
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m.Annotations
}

// cacheVerdict is res's verdict as the cache keeps it.
func cacheVerdict(res Result, policyHash string) cache.Verdict {
	return cache.Verdict{
		Digest:     res.Digest,
		PolicyHash: policyHash,
		Verified:   res.Verdict.Verified,
		Signers:    res.Verdict.Signers,
		Reason:     res.Verdict.Reason,
		Time:       time.Now().UTC(),
	}
}

// Plan does what Reconcile does up to the apply — resolve, verify, fetch
// into the cache, render — and returns what applying would change, as the
// API server predicts it (server-side dry run). Nothing in the cluster is
// written.
func (r *Reconciler) Plan(ctx context.Context, s *Sync) (Result, []deploy.ObjectDiff, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	res, desc, _, _, err := r.fetchVerified(ctx, s)
	if err != nil {
		return res, nil, err
	}
	objs, err := r.render(ctx, s, desc)
	if err != nil {
		return res, nil, err
	}
	mgr, err := deploy.NewManager(r.RestConfig, s.ManagerOptions())
	if err != nil {
		return res, nil, err
	}
	var old deploy.Inventory
	if s.Spec.Prune {
		if old, _, err = r.previousInventory(ctx, s, mgr); err != nil {
			return res, nil, err
		}
	}
	diffs, err := mgr.Diff(ctx, objs, old)
	return res, diffs, err
}

// drift lists the objects whose live state differs from revision desc.
func (r *Reconciler) drift(ctx context.Context, s *Sync, desc ocispec.Descriptor) ([]string, string, error) {
	objs, err := r.render(ctx, s, desc)
	if err != nil {
		return nil, ReasonArtifactFailed, err
	}
	mgr, err := deploy.NewManager(r.RestConfig, s.ManagerOptions())
	if err != nil {
		return nil, ReasonApplyFailed, err
	}
	diffs, err := mgr.Diff(ctx, objs, nil)
	if err != nil {
		return nil, ReasonApplyFailed, err
	}
	drifted := []string{}
	for _, d := range deploy.Drifted(diffs) {
		drifted = append(drifted, d.Object)
	}
	return drifted, "", nil
}

// fetchVerified resolves s's source to a digest, checks its signatures
// against the policy (or finds a cached verdict), and fetches exactly that
// digest into the cache.
func (r *Reconciler) fetchVerified(ctx context.Context, s *Sync) (Result, ocispec.Descriptor, string, string, error) {
	var (
		res        Result
		desc       ocispec.Descriptor
		resolvedBy string
	)
	if err := s.supported(); err != nil {
		return res, desc, "", ReasonInvalidSpec, err
	}
	ref, err := s.reference()
	if err != nil {
		return res, desc, "", ReasonInvalidSpec, err
	}
	policy, err := s.policy()
	if err != nil {
		return res, desc, "", ReasonInvalidSpec, err
	}
	res.Repository = ref.Repo()

	opts := r.Remote
	opts.PlainHTTP = s.Spec.Source.Insecure
	sources, err := s.sources(opts)
	if err != nil {
		return res, desc, "", ReasonInvalidSpec, err
	}
	if s.Spec.Source.Ref.Semver != "" {
		tag, err := resolveSemver(ctx, sources, s.Spec.Source.Ref.Semver, s.Spec.Source.Ref.SemverFilter)
		if err != nil {
			return res, desc, "", ReasonSourceUnavailable, err
		}
		ref.Tag = tag
	}
	desc, resolvedBy, err = pull.ResolveFrom(ctx, sources, ref)
	if err != nil {
		return res, desc, "", ReasonSourceUnavailable, fmt.Errorf("resolve %s: %w", ref, err)
	}
	res.Digest = desc.Digest.String()
	res.Tag = ref.Tag
	repo := sourceNamed(sources, resolvedBy)

	// Trust first: an artifact whose signatures fail the policy is never
	// fetched, so its content cannot reach the cache or the API server.
	policyHash := policy.Hash()
	cached, ok, err := r.Cache.Verdict(ctx, res.Digest, policyHash)
	if err != nil {
		return res, desc, "", ReasonArtifactFailed, err
	}
	if ok && cached.Verified {
		res.Verdict = verify.Verdict{Digest: cached.Digest, Verified: true, Signers: cached.Signers, Reason: cached.Reason}
		res.VerdictCached = true
	} else {
		sigRepo, err := r.signatureRepository(s, ref, opts)
		if err != nil {
			return res, desc, "", ReasonInvalidSpec, err
		}
		if sigRepo == nil {
			sigRepo = repo
		}
		res.Verdict, err = verify.Verify(ctx, sigRepo, desc, policy)
		if err != nil {
			return res, desc, "", ReasonVerificationFailed, err
		}
		if res.Verdict.Verified {
			// Kept now, not only at Commit, so plans and drift checks of
			// this digest do not ask the registry again.
			if err := r.Cache.RecordVerdict(ctx, cacheVerdict(res, policyHash)); err != nil {
				return res, desc, "", ReasonArtifactFailed, err
			}
		}
	}

	res.ServedBy, err = pull.FetchFrom(ctx, sources, desc, r.Cache)
	if err != nil {
		reason := ReasonSourceUnavailable
		if errdef.IsTerminal(err) {
			reason = ReasonArtifactFailed
		}
		return res, desc, "", reason, fmt.Errorf("fetch %s@%s: %w", res.Repository, res.Digest, err)
	}
	res.Annotations = r.annotations(ctx, desc)
	return res, desc, policyHash, "", nil
}

func (r *Reconciler) reconcileOffline(ctx context.Context, s *Sync) (Result, string, error) {
	res := Result{Offline: true}
	rev, ok, err := r.Cache.LastApplied(ctx, s.Key())
	if err != nil {
		return res, ReasonArtifactFailed, err
	}
	if !ok {
		return res, ReasonSourceUnavailable, fmt.Errorf("sync %s: the cache holds no applied revision to re-apply offline: %w", s.Key(), errdef.ErrNotFound)
	}
	res.Repository = rev.Repository
	res.Digest = rev.Manifest.Digest.String()
	res.Annotations = r.annotations(ctx, rev.Manifest)
	res.Verdict = verify.Verdict{Digest: rev.Verdict.Digest, Verified: rev.Verdict.Verified, Signers: rev.Verdict.Signers, Reason: rev.Verdict.Reason}
	res.VerdictCached = true
	if s.enforce() && !rev.Verdict.Verified {
		return res, ReasonVerificationFailed, fmt.Errorf("sync %s: cached revision %s was not verified: %w", s.Key(), res.Digest, errdef.ErrPolicyViolation)
	}
	inventory, changes, reason, err := r.apply(ctx, s, rev.Manifest)
	res.Changes, res.Inventory = changes, inventory
	if err != nil {
		return res, reason, err
	}
	rev.Inventory = inventory
	rev.AppliedAt = time.Now().UTC()
	if err := r.Cache.Commit(ctx, rev); err != nil {
		return res, ReasonApplyFailed, fmt.Errorf("record applied revision: %w", err)
	}
	return res, ReasonApplied, nil
}

// apply extracts the artifact from the cache (every blob re-checked on read),
// renders it, applies it in stages, prunes what left it, records the
// inventory in the cluster and waits for health, as the Sync asks.
func (r *Reconciler) apply(ctx context.Context, s *Sync, desc ocispec.Descriptor) ([]string, []deploy.Change, string, error) {
	objs, err := r.render(ctx, s, desc)
	if err != nil {
		return nil, nil, ReasonArtifactFailed, err
	}
	mgr, err := deploy.NewManager(r.RestConfig, s.ManagerOptions())
	if err != nil {
		return nil, nil, ReasonApplyFailed, err
	}
	old, inCluster, err := r.previousInventory(ctx, s, mgr)
	if err != nil {
		return nil, nil, ReasonApplyFailed, err
	}

	cs, err := mgr.ApplyAllStaged(ctx, objs)
	var changes []deploy.Change
	if cs != nil {
		changes = cs.Changes
	}
	if err != nil {
		return nil, changes, ReasonApplyFailed, err
	}
	applied := cs.Inventory()

	var pruned *deploy.ChangeSet
	if s.Spec.Prune {
		pruned, err = mgr.Prune(ctx, old, applied, s.pruneOptions())
		if pruned != nil {
			changes = append(changes, pruned.Changes...)
		}
		if err != nil && pruned == nil {
			return nil, changes, ReasonApplyFailed, fmt.Errorf("prune: %w", err)
		}
	}
	// Objects that left the artifact but were not pruned (prune off, or a
	// delete that failed) stay in the inventory for a later prune.
	next := deploy.NextInventory(old, applied, pruned)
	if !inCluster || !slices.Equal(old, next) {
		if werr := mgr.WriteInventory(ctx, next); werr != nil {
			return nil, changes, ReasonApplyFailed, werr
		}
	}
	if err != nil {
		return nil, changes, ReasonApplyFailed, fmt.Errorf("prune: %w", err)
	}
	if s.Spec.Wait {
		if err := mgr.Wait(ctx, applied, deploy.WaitOptions{Timeout: waitBudget(ctx)}); err != nil {
			return nil, changes, ReasonHealthCheckFailed, err
		}
	}
	return next.Strings(), changes, "", nil
}

// render extracts revision desc from the cache (every blob re-checked on
// read) into a scratch directory and renders its objects.
func (r *Reconciler) render(ctx context.Context, s *Sync, desc ocispec.Descriptor) ([]*unstructured.Unstructured, error) {
	work, err := os.MkdirTemp("", "sealift-render-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "artifact")
	if err := pull.Extract(ctx, r.Cache, desc, dir, pull.ExtractOptions{}); err != nil {
		return nil, fmt.Errorf("extract %s: %w", desc.Digest, err)
	}
	objs, err := deploy.Render(ctx, dir, deploy.RenderOptions{Path: s.Spec.Path, TargetNamespace: s.Spec.TargetNamespace})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", desc.Digest, err)
	}
	return objs, nil
}

// previousInventory is what the Sync applied before: the cluster's record,
// else the cache's (so neither a lost cache nor a lost ConfigMap orphans
// objects). inCluster tells whether the cluster's record exists.
func (r *Reconciler) previousInventory(ctx context.Context, s *Sync, mgr *deploy.Manager) (inv deploy.Inventory, inCluster bool, err error) {
	inv, found, err := mgr.ReadInventory(ctx)
	if err != nil || found {
		return inv, found, err
	}
	rev, ok, err := r.Cache.LastApplied(ctx, s.Key())
	if err != nil || !ok {
		return nil, false, err
	}
	inv, err = deploy.ParseInventory(rev.Inventory)
	if err != nil {
		// Inventories recorded before objects carried their group cannot be
		// used for pruning; start afresh rather than guess.
		return nil, false, nil
	}
	return inv, false, nil
}

// waitBudget leaves what remains of the reconcile's deadline to Wait.
func waitBudget(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return DefaultTimeout
}

// pruneOptions are the prune rails of s.
func (s *Sync) pruneOptions() deploy.PruneOptions {
	b := s.Spec.PruneBudget
	if b == nil {
		return deploy.PruneOptions{}
	}
	return deploy.PruneOptions{AllowEmpty: b.AllowEmpty, MaxDeletes: b.MaxDeletes, MaxPercent: b.MaxPercent}
}

// ManagerOptions are the apply settings of s, shared by sync and diff so
// both see the cluster the same way.
func (s *Sync) ManagerOptions() deploy.ManagerOptions {
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	opts := deploy.ManagerOptions{
		TargetNamespace: s.Spec.TargetNamespace,
		Owner:           deploy.Owner{Name: s.Name, Namespace: ns},
		Adopt:           deploy.AdoptPolicy(s.Spec.Adopt),
		Force:           s.Spec.Force,
	}
	if s.Spec.ServiceAccountName != "" {
		opts.ServiceAccount = ns + "/" + s.Spec.ServiceAccountName
	}
	return opts
}

func (r *Reconciler) setStatus(s *Sync, res Result, reason string, err error) {
	now := metav1.Now()
	s.Status.ObservedGeneration = s.Generation
	if res.Digest != "" {
		s.Status.LastAttemptedDigest = res.Digest
	}
	meta.RemoveStatusCondition(&s.Status.Conditions, ConditionReconciling)
	if err == nil && res.Drifted != nil {
		msg := fmt.Sprintf("%s is applied; no drift", res.Digest)
		if len(res.Drifted) > 0 {
			msg = fmt.Sprintf("%s is applied; %d objects drifted (drift: detect, not corrected): %s", res.Digest, len(res.Drifted), strings.Join(res.Drifted, ", "))
		}
		meta.RemoveStatusCondition(&s.Status.Conditions, ConditionStalled)
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonApplied, Message: msg, LastTransitionTime: now,
		})
		return
	}
	if err == nil {
		s.Status.LastAppliedDigest = res.Digest
		s.Status.VerifiedBy = res.Verdict.Signers
		entries := res.Inventory
		s.Status.Inventory = &InventoryStatus{Count: len(entries), Entries: entries}
		// A revision re-applied (each interval of the controller) is not a
		// new entry.
		if len(s.Status.History) == 0 || s.Status.History[0].Digest != res.Digest {
			s.Status.History = append([]HistoryEntry{{Digest: res.Digest, AppliedAt: now}}, s.Status.History...)
		}
		if len(s.Status.History) > maxHistory {
			s.Status.History = s.Status.History[:maxHistory]
		}
		meta.RemoveStatusCondition(&s.Status.Conditions, ConditionStalled)
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonApplied,
			Message: fmt.Sprintf("applied %s (%d objects)", res.Digest, len(entries)), LastTransitionTime: now,
		})
		return
	}
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: err.Error(), LastTransitionTime: now,
	})
	if errdef.IsTerminal(err) {
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: err.Error(), LastTransitionTime: now,
		})
	}
}

// maxHistory is how many applied revisions a Sync's status lists.
const maxHistory = 10

func (s *Sync) timeout() time.Duration {
	if s.Spec.Timeout != nil && s.Spec.Timeout.Duration > 0 {
		return s.Spec.Timeout.Duration
	}
	return DefaultTimeout
}

func (s *Sync) enforce() bool { return s.Spec.Verify.Mode != string(verify.Audit) }

// supported refuses the parts of the spec this version does not act on yet,
// rather than silently ignoring them.
func (s *Sync) supported() error {
	unsupported := func(field string) error {
		return fmt.Errorf("Sync %s: %s is not supported by this version: %w", s.Key(), field, errdef.ErrInvalidObject)
	}
	switch {
	case s.Spec.Source.SecretRef != nil || s.Spec.Source.CertSecretRef != nil:
		return unsupported("spec.source.secretRef and certSecretRef")
	}
	return nil
}

// reference builds the pull reference from the source URL and ref.
func (s *Sync) reference() (pull.Reference, error) {
	ref, err := pull.ParseReference(s.Spec.Source.URL)
	if err != nil {
		return ref, fmt.Errorf("spec.source.url: %w", err)
	}
	if ref.Tag != "" && ref.Tag != "latest" || ref.Digest != "" {
		if s.Spec.Source.Ref != (Ref{}) {
			return ref, fmt.Errorf("spec.source.url %q carries a tag or digest and spec.source.ref is set too; use one: %w", s.Spec.Source.URL, errdef.ErrInvalidReference)
		}
		return ref, nil
	}
	switch {
	case s.Spec.Source.Ref.Digest != "":
		ref.Tag = ""
		ref.Digest = s.Spec.Source.Ref.Digest
	case s.Spec.Source.Ref.Tag != "":
		ref.Tag = s.Spec.Source.Ref.Tag
	case s.Spec.Source.Ref.Semver != "":
		return ref, nil // the tag is chosen at resolve time
	}
	// Re-parse so a bad tag or digest is caught with the reference's own checks.
	return pull.ParseReference(ref.String())
}

// sources lists where the artifact may be read: the mirrors in order, then
// the canonical repository.
func (s *Sync) sources(opts pull.RemoteOptions) ([]pull.Source, error) {
	repos := make([]string, 0, len(s.Spec.Source.Mirrors)+1)
	for _, m := range s.Spec.Source.Mirrors {
		repos = append(repos, m.URL)
	}
	repos = append(repos, s.Spec.Source.URL)
	sources, err := pull.NewSources(repos, opts)
	if err != nil {
		return nil, fmt.Errorf("spec.source: %w", err)
	}
	return sources, nil
}

func sourceNamed(sources []pull.Source, name string) oras.ReadOnlyTarget {
	for _, s := range sources {
		if s.Name == name {
			return s.Target
		}
	}
	return sources[len(sources)-1].Target
}

// resolveSemver picks the highest tag matching constraint from the first
// source that can list its tags; unreachable sources are skipped.
func resolveSemver(ctx context.Context, sources []pull.Source, constraint, filter string) (string, error) {
	var failures []error
	for _, src := range sources {
		lister, ok := src.Target.(registry.TagLister)
		if !ok {
			continue
		}
		tag, err := pull.ResolveSemver(ctx, lister, constraint, filter)
		if err == nil {
			return tag, nil
		}
		err = fmt.Errorf("semver %q at %s: %w", constraint, src.Name, err)
		if errdef.IsTerminal(err) {
			return "", err
		}
		failures = append(failures, err)
	}
	return "", errors.Join(failures...)
}

// policy builds the verification policy; with mode enforce, a Sync without
// keys is refused instead of applying unchecked content.
func (s *Sync) policy() (verify.Policy, error) {
	p := verify.Policy{Mode: verify.Enforce, Threshold: s.Spec.Verify.Threshold}
	if s.Spec.Verify.Mode == string(verify.Audit) {
		p.Mode = verify.Audit
	}
	for i, k := range s.Spec.Verify.Keys {
		var (
			pemBytes []byte
			err      error
		)
		switch {
		case k.Path != "":
			pemBytes, err = os.ReadFile(k.Path)
		case k.PEM != "":
			pemBytes = []byte(k.PEM)
		default:
			err = errors.New("secretRef keys are read by the in-cluster controller; use path or pem with --once")
		}
		if err != nil {
			return p, fmt.Errorf("spec.verify.keys[%d]: %w", i, err)
		}
		pub, err := cosignfmt.LoadPublicKey(pemBytes)
		if err != nil {
			return p, fmt.Errorf("spec.verify.keys[%d]: %w", i, err)
		}
		p.Keys = append(p.Keys, crypto.PublicKey(pub))
	}
	p.Identities = append(p.Identities, s.Spec.Verify.Identities...)
	if tr := s.Spec.Verify.TrustedRoot; tr != nil {
		if tr.Path == "" {
			return p, fmt.Errorf("spec.verify.trustedRoot: secretRef is read by the in-cluster controller; use path with --once: %w", errdef.ErrInvalidObject)
		}
		data, err := fsutil.ReadFile(tr.Path, maxTrustedRootBytes)
		if err != nil {
			return p, fmt.Errorf("spec.verify.trustedRoot: %w", err)
		}
		p.TrustedRoot = data
	}
	if len(p.Identities) > 0 && len(p.TrustedRoot) == 0 {
		return p, fmt.Errorf("Sync %s: spec.verify.identities need spec.verify.trustedRoot, the pinned trust root keyless signatures are checked against offline: %w", s.Key(), errdef.ErrPolicyViolation)
	}
	if len(p.Keys) == 0 && len(p.Identities) == 0 && p.Mode == verify.Enforce {
		return p, fmt.Errorf("Sync %s: spec.verify lists no keys or identities but mode is enforce, so nothing could ever be applied; add a key or set mode: audit: %w", s.Key(), errdef.ErrPolicyViolation)
	}
	return p, nil
}

// maxTrustedRootBytes caps a trusted_root.json; real ones are tens of kilobytes.
const maxTrustedRootBytes = 4 << 20

// signatureRepository returns the repository holding the signatures when
// the Sync names one apart from the artifact's, else nil.
func (r *Reconciler) signatureRepository(s *Sync, artifact pull.Reference, opts pull.RemoteOptions) (oras.ReadOnlyTarget, error) {
	if s.Spec.Verify.SignatureRepository == "" {
		return nil, nil
	}
	ref, err := pull.ParseReference(s.Spec.Verify.SignatureRepository)
	if err != nil {
		return nil, fmt.Errorf("spec.verify.signatureRepository: %w", err)
	}
	ref.Tag, ref.Digest = artifact.Tag, artifact.Digest
	return pull.NewRepository(ref, opts)
}
