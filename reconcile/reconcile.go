package reconcile

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/render"
	"github.com/sealift-dev/sealift/verify"
)

// Engine walks one Sync through the pipeline. Its zero value is not
// usable: set Cache and RestConfig.
type Engine struct {
	// Cache holds verified artifacts and per-sync state.
	Cache *cache.Cache
	// RestConfig reaches the API server that objects are applied to.
	RestConfig *rest.Config
	// Remote carries credentials shared by every Sync (the CLI's flags).
	// Static credentials go to the canonical registry of each Sync only
	// (unless Remote binds them to a host); plain HTTP is taken from each
	// source's own insecure flag in the spec.
	Remote pull.RemoteOptions

	// Managers shares long-lived apply managers (one HTTP client and
	// discovery per service account) between reconciles and between copies
	// of the Engine; nil builds a manager per call.
	Managers *ManagerCache

	// Untouched, when set, tells whether none of the objects of inventory
	// that Sync sync applied has changed in the cluster since the time given
	// (the controller's drift watch saw no edit or deletion of them). A reconcile
	// that resolves to the revision last applied, under the same policy, for
	// the generation last handled, then neither renders nor applies it (see
	// Outcome.Unchanged). nil (sync --once) applies at every reconcile.
	Untouched func(sync string, inventory []string, since time.Time) bool
}

// ManagerCache holds one apply manager per service account ("" for none),
// so reconciles share its HTTP client and discovery. It is safe for
// concurrent use; the zero value is ready.
type ManagerCache struct {
	mu       sync.Mutex
	managers map[string]*deploy.Manager
}

func (c *ManagerCache) get(cfg *rest.Config, serviceAccount string) (*deploy.Manager, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.managers[serviceAccount]; ok {
		return m, nil
	}
	m, err := deploy.NewManager(cfg, deploy.ManagerOptions{ServiceAccount: serviceAccount})
	if err != nil {
		return nil, err
	}
	if c.managers == nil {
		c.managers = map[string]*deploy.Manager{}
	}
	c.managers[serviceAccount] = m
	return m, nil
}

// manager returns the apply manager for s: the long-lived one for its
// service account when the Engine shares Managers, with s's apply
// options.
func (r *Engine) manager(s *sealiftv1.Sync) (*deploy.Manager, error) {
	opts := ManagerOptions(s)
	if r.Managers == nil {
		return deploy.NewManager(r.RestConfig, opts)
	}
	base, err := r.Managers.get(r.RestConfig, opts.ServiceAccount)
	if err != nil {
		return nil, err
	}
	return base.With(opts.ApplyOptions)
}

// Outcome is what one reconcile did.
type Outcome struct {
	// Repository the artifact came from, host/path.
	Repository string `json:"repository"`
	// Digest applied (or attempted, on failure).
	Digest string `json:"digest"`
	// Revision is the tag and digest applied, tag@digest, or the digest
	// alone when no tag was involved.
	Revision string `json:"revision,omitempty"`
	// Suspended is true when the Sync has spec.suspend set: nothing was
	// resolved, verified or applied, and the status was left as it was.
	Suspended bool `json:"suspended,omitempty"`
	// Tag is the tag resolved (a semver range's pick); empty for a digest.
	Tag string `json:"tag,omitempty"`
	// ResolvedBy is the repository that said which digest the tag or range
	// means (or that had the digest).
	ResolvedBy string `json:"resolvedBy,omitempty"`
	// ResolvedAtMirror is true when a mirror chose the digest because the
	// canonical registry did not answer: air-gapped, or the canonical
	// registry is down. A mirror can serve a stale revision; it cannot move
	// a tag away from the last applied digest or a range below it.
	ResolvedAtMirror bool `json:"resolvedAtMirror,omitempty"`
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
	// DriftChecked is true when drift: detect compared the cluster with
	// the applied revision instead of applying it (Drifted lists what
	// differs, possibly nothing).
	DriftChecked bool `json:"driftChecked,omitempty"`
	// ServedBy is the repository (a mirror or the canonical one) the
	// content was fetched from; empty when it came from the cache alone.
	ServedBy string `json:"servedBy,omitempty"`
	// Offline is true when the revision was taken from the cache alone.
	Offline bool `json:"offline"`
	// SourceError says why no source could be used when Reconcile fell back
	// to the cached revision (then Offline is true too).
	SourceError string `json:"sourceError,omitempty"`
	// Inventory is every object the Sync now owns in the cluster.
	Inventory []string `json:"inventory,omitempty"`
	// Changes is the apply change set.
	Changes []deploy.Change `json:"changes"`
	// Images are the image references rewritten by spec.images.mirrors
	// (relocated to a mirror, or pinned to the images lock's digest).
	Images []render.Relocation `json:"images,omitempty"`
	// Unchanged is true when nothing was rendered or applied: the digest,
	// the policy and the Sync's generation are those of the last apply, and
	// Engine.Untouched said the applied objects have not changed since.
	Unchanged bool `json:"unchanged,omitempty"`

	// verdictTime is when a cached verdict was made, kept when it is
	// recorded again so that reusing it never makes it younger.
	verdictTime time.Time
	// selector is what the Sync asked for, recorded with the revision.
	selector string
}

// Reconcile resolves, verifies, fetches, renders and applies s once, and
// records the outcome in the cache and in s.Status. Nothing is applied unless
// the policy holds (mode enforce) for exactly the digest applied. A
// suspended Sync is left alone: the Outcome says Suspended and the error is
// nil. s is defaulted first (s.Default).
func (r *Engine) Reconcile(ctx context.Context, s *sealiftv1.Sync) (Outcome, error) {
	if s.Spec.Suspend {
		return Outcome{Suspended: true}, nil
	}
	s.Default()
	ctx, cancel := context.WithTimeout(ctx, s.Spec.Timeout.Duration)
	defer cancel()
	res, err := r.reconcile(ctx, s)
	if err != nil && ReasonOf(err) == sealiftv1.ReasonSourceUnavailable && !errdef.IsTerminal(err) {
		// No source answered: keep the last verified revision in place from
		// the cache (so drift is still corrected), and say so.
		if fres, ferr := r.reconcileOffline(ctx, s); ferr == nil {
			fres.SourceError = err.Error()
			res, err = fres, &SourceUnavailableError{Sync: s.Key(), Digest: fres.Digest, Err: err}
		}
	}
	r.setStatus(s, res, err)
	return res, err
}

// SourceUnavailableError is returned by Reconcile when no source of a Sync
// could be reached and the last verified revision was re-applied from the
// cache instead: the cluster holds a good revision, but maybe not the newest.
// Retry later; nothing needs fixing in the Sync.
type SourceUnavailableError struct {
	Sync   string // namespace/name
	Digest string // the cached revision re-applied
	Err    error  // why the sources could not be used
}

func (e *SourceUnavailableError) Error() string {
	return fmt.Sprintf("sync %s: source unavailable, re-applied the last verified revision %s from the cache: %v", e.Sync, e.Digest, e.Err)
}

func (e *SourceUnavailableError) Unwrap() error { return e.Err }

// ReconcileOffline re-applies the last revision the cache holds for s,
// without touching any registry. A suspended Sync is left alone, as with
// Reconcile.
func (r *Engine) ReconcileOffline(ctx context.Context, s *sealiftv1.Sync) (Outcome, error) {
	if s.Spec.Suspend {
		return Outcome{Suspended: true, Offline: true}, nil
	}
	s.Default()
	ctx, cancel := context.WithTimeout(ctx, s.Spec.Timeout.Duration)
	defer cancel()
	res, err := r.reconcileOffline(ctx, s)
	r.setStatus(s, res, err)
	return res, err
}

// reconcile is Reconcile's walk; its error carries the status reason
// (ReasonOf).
func (r *Engine) reconcile(ctx context.Context, s *sealiftv1.Sync) (Outcome, error) {
	res, v, err := r.fetchVerified(ctx, s)
	if err != nil {
		return res, err
	}
	desc := v.desc
	if inv, ok, err := r.unchanged(ctx, s, res, v); err != nil || ok {
		if err != nil {
			return res, WithReason(sealiftv1.ReasonArtifactFailed, err)
		}
		res.Inventory, res.Unchanged = inv, true
		return res, nil
	}
	if s.Spec.Drift == sealiftv1.DriftDetect {
		last, ok, err := r.Cache.LastApplied(ctx, s.Key())
		if err != nil {
			// Not knowing what was applied must not fall through to an
			// apply that would overwrite the hand edits detect mode keeps.
			return res, WithReason(sealiftv1.ReasonArtifactFailed, fmt.Errorf("drift: detect: read the last applied revision: %w", err))
		}
		if ok && last.Manifest.Digest == desc.Digest {
			// Nothing new to apply: report how the cluster differs from the
			// applied revision, and leave it as it is.
			res.Drifted, err = r.drift(ctx, s, desc)
			if err != nil {
				return res, err
			}
			res.DriftChecked = true
			return res, nil
		}
	}
	inventory, changes, err := r.apply(ctx, s, desc, true, &res)
	res.Changes, res.Inventory = changes, inventory
	if err != nil {
		return res, err
	}
	err = r.Cache.Commit(ctx, cache.Revision{
		Sync:       s.Key(),
		Repository: res.Repository,
		Manifest:   desc,
		Selector:   res.selector,
		Tag:        res.Tag,
		Verdict:    cacheVerdict(res, v.policyHash),
		Inventory:  inventory,
		AppliedAt:  time.Now().UTC(),
	})
	if err != nil {
		return res, WithReason(sealiftv1.ReasonApplyFailed, fmt.Errorf("record applied revision: %w", err))
	}
	return res, nil
}

// unchanged tells whether the revision v, just resolved and verified for s,
// is the one last applied, under the same policy and selector, for the
// generation s's status says was handled, with no object touched since
// (Engine.Untouched): then applying it again would change nothing, and its
// recorded inventory is returned. Syncs that wait for health (which can
// change without an edit) or only detect drift are always looked at.
func (r *Engine) unchanged(ctx context.Context, s *sealiftv1.Sync, res Outcome, v verified) ([]string, bool, error) {
	if r.Untouched == nil || s.Spec.Wait || s.Spec.Drift == sealiftv1.DriftDetect ||
		s.Generation == 0 || s.Status.ObservedGeneration != s.Generation || s.Status.LastAppliedDigest != res.Digest {
		return nil, false, nil
	}
	last, ok, err := r.Cache.LastApplied(ctx, s.Key())
	if err != nil || !ok {
		return nil, false, err
	}
	if last.Manifest.Digest != v.desc.Digest || last.Repository != res.Repository || last.Selector != res.selector ||
		last.Verdict.PolicyHash != v.policyHash || (enforce(s) && !last.Verdict.Verified) {
		return nil, false, nil
	}
	if !r.Untouched(s.Key(), last.Inventory, last.AppliedAt) {
		return nil, false, nil
	}
	return last.Inventory, true, nil
}

// annotations reads the annotations of the cached manifest desc (re-checked
// on read); they are informational, so a manifest that cannot be read has none.
func (r *Engine) annotations(ctx context.Context, desc ocispec.Descriptor) map[string]string {
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
func cacheVerdict(res Outcome, policyHash string) cache.Verdict {
	t := res.verdictTime
	if t.IsZero() {
		t = time.Now().UTC()
	}
	return cache.Verdict{
		Digest:     res.Digest,
		PolicyHash: policyHash,
		Verified:   res.Verdict.Verified,
		Signers:    res.Verdict.Signers,
		Reason:     res.Verdict.Reason,
		Time:       t,
	}
}

// Plan does what Reconcile does up to the apply — resolve, verify, fetch
// into the cache, render — and returns what applying would change, as the
// API server predicts it (server-side dry run). Nothing in the cluster is
// written.
func (r *Engine) Plan(ctx context.Context, s *sealiftv1.Sync) (Outcome, []deploy.ObjectDiff, error) {
	s.Default()
	ctx, cancel := context.WithTimeout(ctx, s.Spec.Timeout.Duration)
	defer cancel()
	res, v, err := r.fetchVerified(ctx, s)
	if err != nil {
		return res, nil, err
	}
	objs, images, err := r.render(ctx, s, v.desc)
	res.Images = images
	if err != nil {
		return res, nil, err
	}
	diffs, err := r.planObjects(ctx, s, objs)
	return res, diffs, err
}

// PlanObjects returns what applying objs for s would change, as the API
// server predicts it (server-side dry run), with the manager and the
// inventory rule Plan and Reconcile use: with prune, the objects the Sync
// applied before (the cluster's inventory, else the cache's) that objs no
// longer hold are reported as deletes. It is Plan for objects rendered
// elsewhere (the CLI's diff --dir); nothing is resolved, verified or
// fetched, and nothing in the cluster is written. s is defaulted first.
func (r *Engine) PlanObjects(ctx context.Context, s *sealiftv1.Sync, objs []*unstructured.Unstructured) ([]deploy.ObjectDiff, error) {
	s.Default()
	ctx, cancel := context.WithTimeout(ctx, s.Spec.Timeout.Duration)
	defer cancel()
	return r.planObjects(ctx, s, objs)
}

func (r *Engine) planObjects(ctx context.Context, s *sealiftv1.Sync, objs []*unstructured.Unstructured) ([]deploy.ObjectDiff, error) {
	mgr, err := r.manager(s)
	if err != nil {
		return nil, err
	}
	var old deploy.Inventory
	if s.Spec.Prune {
		if old, _, err = r.previousInventory(ctx, s, mgr); err != nil {
			return nil, err
		}
	}
	return mgr.Diff(ctx, objs, old)
}

// drift lists the objects whose live state differs from revision desc.
func (r *Engine) drift(ctx context.Context, s *sealiftv1.Sync, desc ocispec.Descriptor) ([]string, error) {
	objs, _, err := r.render(ctx, s, desc)
	if err != nil {
		return nil, err
	}
	mgr, err := r.manager(s)
	if err != nil {
		return nil, WithReason(sealiftv1.ReasonApplyFailed, err)
	}
	diffs, err := mgr.Diff(ctx, objs, nil)
	if err != nil {
		return nil, WithReason(sealiftv1.ReasonApplyFailed, err)
	}
	drifted := []string{}
	for _, d := range deploy.Drifted(diffs) {
		drifted = append(drifted, d.Object)
	}
	return drifted, nil
}

// verified is the revision fetchVerified checked and fetched into the cache.
type verified struct {
	desc ocispec.Descriptor
	// policyHash is the hash of the policy the verdict was made under.
	policyHash string
}

// fetchVerified resolves s's source to a digest, checks its signatures
// against the policy (or finds a cached verdict), and fetches exactly that
// digest into the cache. Its error carries the status reason (ReasonOf).
func (r *Engine) fetchVerified(ctx context.Context, s *sealiftv1.Sync) (Outcome, verified, error) {
	var (
		res  Outcome
		desc ocispec.Descriptor
	)
	fail := func(reason string, err error) (Outcome, verified, error) {
		return res, verified{desc: desc}, WithReason(reason, err)
	}
	if err := supported(s); err != nil {
		return fail(sealiftv1.ReasonInvalidSpec, err)
	}
	ref, err := reference(s)
	if err != nil {
		return fail(sealiftv1.ReasonInvalidSpec, err)
	}
	policy, err := policy(s)
	if err != nil {
		return fail(sealiftv1.ReasonInvalidSpec, err)
	}
	res.Repository = ref.Repo()
	res.selector = selector(s, ref)

	opts := r.Remote.BindCredentials(ref.Registry)
	reps, err := replicas(s, opts)
	if err != nil {
		return fail(sealiftv1.ReasonInvalidSpec, err)
	}
	last, hasLast, err := r.Cache.LastApplied(ctx, s.Key())
	if err != nil {
		return fail(sealiftv1.ReasonArtifactFailed, err)
	}
	sameSelector := hasLast && last.Selector == res.selector
	sel := sourceRef(s)
	ropts := pull.ResolveOptions{Semver: sel.Semver, SemverFilter: sel.SemverFilter}
	if sel.Semver != "" && sameSelector {
		ropts.Floor = last.Tag
	}
	resolved, err := pull.ResolveFrom(ctx, reps, ref, ropts)
	if err != nil {
		reason := sealiftv1.ReasonSourceUnavailable
		if errors.Is(err, errdef.ErrRollback) {
			reason = sealiftv1.ReasonRollbackRefused
		}
		return fail(reason, fmt.Errorf("resolve %s: %w", ref, err))
	}
	desc = resolved.Descriptor
	res.Digest, res.Tag = desc.Digest.String(), resolved.Tag
	res.Revision = res.Digest
	if resolved.Tag != "" {
		res.Revision = resolved.Tag + "@" + res.Digest
	}
	res.ResolvedBy, res.ResolvedAtMirror = resolved.Replica, resolved.AtMirror
	if resolved.AtMirror && sameSelector && sel.Semver == "" && last.Manifest.Digest != desc.Digest {
		return fail(sealiftv1.ReasonRollbackRefused, fmt.Errorf(
			"resolve %s: the canonical registry did not answer, and mirror %s says the tag means %s, not %s applied before; a mirror alone cannot move a tag (wait for the canonical registry, or pin spec.source.ref.digest): %w",
			ref, resolved.Replica, desc.Digest, last.Manifest.Digest, errdef.ErrRollback))
	}
	repo := replicaNamed(reps, resolved.Replica)

	// Trust first: an artifact whose signatures fail the policy is never
	// fetched, so its content cannot reach the cache or the API server.
	policyHash := policy.Hash()
	// The registry answered: a verdict older than limits.MaxVerdictAge is
	// checked again.
	cached, ok, err := r.Cache.Verdict(ctx, res.Digest, policyHash, cache.MaxAge(limits.MaxVerdictAge))
	if err != nil {
		return fail(sealiftv1.ReasonArtifactFailed, err)
	}
	switch {
	case ok && cached.Verified:
		res.Verdict = verify.Verdict{Digest: cached.Digest, Verified: true, Signers: cached.Signers, Reason: cached.Reason}
		res.VerdictCached = true
		res.verdictTime = cached.Time
	case policy.Mode == verify.Audit && len(policy.Keys) == 0 && len(policy.Identities) == 0:
		// Audit with nothing to check against: applied, and reported as
		// unverified, rather than refused by the verifier (which needs at
		// least one key or identity).
		res.Verdict = verify.Verdict{Digest: res.Digest, Reason: auditWithoutKeys}
	default:
		sigRepo, err := r.signatureRepository(s, ref, opts)
		if err != nil {
			return fail(sealiftv1.ReasonInvalidSpec, err)
		}
		if sigRepo == nil {
			sigRepo = repo
		}
		res.Verdict, err = verify.Verify(ctx, sigRepo, desc, policy)
		if err != nil {
			return fail(sealiftv1.ReasonVerificationFailed, err)
		}
		if res.Verdict.Verified {
			// Kept now, not only at Commit, so plans and drift checks of
			// this digest do not ask the registry again.
			if err := r.Cache.RecordVerdict(ctx, cacheVerdict(res, policyHash)); err != nil {
				return fail(sealiftv1.ReasonArtifactFailed, err)
			}
		}
	}

	res.ServedBy, err = pull.FetchFrom(ctx, reps, desc, r.Cache, pull.FetchOptions{})
	if err != nil {
		reason := sealiftv1.ReasonSourceUnavailable
		if errdef.IsTerminal(err) {
			reason = sealiftv1.ReasonArtifactFailed
		}
		return fail(reason, fmt.Errorf("fetch %s@%s: %w", res.Repository, res.Digest, err))
	}
	res.Annotations = r.annotations(ctx, desc)
	return res, verified{desc: desc, policyHash: policyHash}, nil
}

// reconcileOffline is ReconcileOffline's walk; its error carries the status
// reason (ReasonOf).
func (r *Engine) reconcileOffline(ctx context.Context, s *sealiftv1.Sync) (Outcome, error) {
	res := Outcome{Offline: true}
	rev, ok, err := r.Cache.LastApplied(ctx, s.Key())
	if err != nil {
		return res, WithReason(sealiftv1.ReasonArtifactFailed, err)
	}
	if !ok {
		return res, WithReason(sealiftv1.ReasonSourceUnavailable, fmt.Errorf("sync %s: the cache holds no applied revision to re-apply offline: %w", s.Key(), errdef.ErrNotFound))
	}
	res.Repository = rev.Repository
	res.Digest = rev.Manifest.Digest.String()
	res.Revision = res.Digest
	res.Annotations = r.annotations(ctx, rev.Manifest)
	res.Verdict = verify.Verdict{Digest: rev.Verdict.Digest, Verified: rev.Verdict.Verified, Signers: rev.Verdict.Signers, Reason: rev.Verdict.Reason}
	res.VerdictCached = true
	if err := r.cachedRevisionAllowed(ctx, s, rev); err != nil {
		return res, err
	}
	// Offline, the images are not looked for in their mirror: the revision
	// ran before, and an outage must not stop drift correction.
	inventory, changes, err := r.apply(ctx, s, rev.Manifest, false, &res)
	res.Changes, res.Inventory = changes, inventory
	if err != nil {
		return res, err
	}
	rev.Inventory = inventory
	rev.AppliedAt = time.Now().UTC()
	if err := r.Cache.Commit(ctx, rev); err != nil {
		return res, WithReason(sealiftv1.ReasonApplyFailed, fmt.Errorf("record applied revision: %w", err))
	}
	return res, nil
}

// cachedRevisionAllowed says whether rev, taken from the cache without asking
// any registry, may be re-applied for s as s reads now: it must come from the
// repository s names, and (mode enforce) carry a verified verdict recorded
// under the policy s holds now. A key removed from the Sync after a
// compromise therefore stops offline re-applies of what it signed, and a Sync
// pointed at another repository never inherits the old one's revision.
func (r *Engine) cachedRevisionAllowed(ctx context.Context, s *sealiftv1.Sync, rev cache.Revision) error {
	ref, err := reference(s)
	if err != nil {
		return WithReason(sealiftv1.ReasonInvalidSpec, err)
	}
	if rev.Repository != ref.Repo() {
		return WithReason(sealiftv1.ReasonSourceUnavailable, fmt.Errorf("sync %s: the cached revision %s came from %s, but spec.source.url names %s; it cannot be re-applied without reaching the registry: %w",
			s.Key(), rev.Manifest.Digest, rev.Repository, ref.Repo(), errdef.ErrPolicyViolation))
	}
	if !enforce(s) {
		return nil
	}
	if !rev.Verdict.Verified {
		return WithReason(sealiftv1.ReasonVerificationFailed, fmt.Errorf("sync %s: cached revision %s was not verified: %w", s.Key(), rev.Manifest.Digest, errdef.ErrPolicyViolation))
	}
	policy, err := policy(s)
	if err != nil {
		return WithReason(sealiftv1.ReasonInvalidSpec, err)
	}
	hash := policy.Hash()
	if rev.Verdict.PolicyHash == hash {
		return nil
	}
	// Another verdict for the same digest may have been recorded under the
	// current policy (a plan or an earlier reconcile).
	v, ok, err := r.Cache.Verdict(ctx, rev.Manifest.Digest.String(), hash)
	if err != nil {
		return WithReason(sealiftv1.ReasonArtifactFailed, err)
	}
	if ok && v.Verified {
		return nil
	}
	return WithReason(sealiftv1.ReasonVerificationFailed, fmt.Errorf("sync %s: cached revision %s was verified under another policy than spec.verify holds now (a key or identity changed); reach the registry to verify it again: %w",
		s.Key(), rev.Manifest.Digest, errdef.ErrPolicyViolation))
}

// apply extracts the artifact from the cache (every blob re-checked on read),
// renders it (relocating images), checks that every relocated image is in
// its mirror (preflight), applies it in stages, prunes what left it,
// records the inventory in the cluster and waits for health, as the Sync
// asks. res.Images receives the relocations.
func (r *Engine) apply(ctx context.Context, s *sealiftv1.Sync, desc ocispec.Descriptor, preflight bool, res *Outcome) ([]string, []deploy.Change, error) {
	objs, images, err := r.render(ctx, s, desc)
	res.Images = images
	if err != nil {
		return nil, nil, err
	}
	if preflight {
		if err := r.preflightImages(ctx, s, images); err != nil {
			return nil, nil, WithReason(sealiftv1.ReasonImagesUnavailable, err)
		}
	}
	mgr, err := r.manager(s)
	if err != nil {
		return nil, nil, WithReason(sealiftv1.ReasonApplyFailed, err)
	}
	old, recorded, err := r.previousInventory(ctx, s, mgr)
	if err != nil {
		return nil, nil, WithReason(sealiftv1.ReasonApplyFailed, err)
	}

	// Objects old does not list are presumed new: validated by a dry run
	// before (instead of) a read.
	cs, err := mgr.ApplyAllStagedOver(ctx, objs, old)
	var changes []deploy.Change
	if cs != nil {
		changes = cs.Changes
	}
	if err != nil {
		// What the failed apply created is recorded with what was there
		// before, so it is not orphaned; nothing is pruned.
		if cs != nil && len(cs.Changes) > 0 {
			kept := deploy.NewInventory(append(slices.Clone(old), cs.Inventory()...)...)
			if werr := mgr.WriteInventory(ctx, kept); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		return nil, changes, WithReason(sealiftv1.ReasonApplyFailed, err)
	}
	applied := cs.Inventory()

	var pruned *deploy.ChangeSet
	if s.Spec.Prune {
		pruned, err = mgr.Prune(ctx, old, applied, pruneOptions(s))
		if pruned != nil {
			changes = append(changes, pruned.Changes...)
		}
		if err != nil && pruned == nil {
			return nil, changes, WithReason(sealiftv1.ReasonApplyFailed, fmt.Errorf("prune: %w", err))
		}
	}
	// Objects that left the artifact but were not pruned (prune off, or a
	// delete that failed) stay in the inventory for a later prune.
	next := deploy.NextInventory(old, applied, pruned)
	write := mgr.WriteInventory // compared with the record the cluster holds now
	if !recorded || !slices.Equal(old, next) {
		// The record read moments ago is missing or differs: the write is
		// needed, and reading the record again would only cost a request.
		write = mgr.ReplaceInventory
	}
	if werr := write(ctx, next); werr != nil {
		return nil, changes, WithReason(sealiftv1.ReasonApplyFailed, werr)
	}
	if err != nil {
		return nil, changes, WithReason(sealiftv1.ReasonApplyFailed, fmt.Errorf("prune: %w", err))
	}
	if s.Spec.Wait {
		if err := mgr.Wait(ctx, applied, deploy.WaitOptions{Timeout: waitBudget(ctx)}); err != nil {
			return nil, changes, WithReason(sealiftv1.ReasonHealthCheckFailed, err)
		}
	}
	return next.Strings(), changes, nil
}

// render extracts revision desc from the cache (every blob re-checked on
// read) into a scratch directory and renders its objects as RenderOptions
// says, returning the image references it relocated. Its errors carry their
// reason: an invalid spec.images, an image nobody locked
// (VerificationFailed), or a broken artifact.
func (r *Engine) render(ctx context.Context, s *sealiftv1.Sync, desc ocispec.Descriptor) ([]*unstructured.Unstructured, []render.Relocation, error) {
	opts, err := RenderOptions(s)
	if err != nil {
		return nil, nil, WithReason(sealiftv1.ReasonInvalidSpec, err)
	}
	var images []render.Relocation
	if opts.Images != nil {
		opts.Images.OnRelocate = func(rel render.Relocation) { images = append(images, rel) }
	}
	objs, err := render.FromArtifact(ctx, r.Cache, desc, render.ArtifactOptions{Render: opts})
	switch {
	case errors.Is(err, errdef.ErrImageNotLocked):
		return nil, images, WithReason(sealiftv1.ReasonVerificationFailed, err)
	case err != nil:
		return nil, images, WithReason(sealiftv1.ReasonArtifactFailed, err)
	}
	return objs, images, nil
}

// previousInventory is what the Sync applied before: the cluster's record,
// else the cache's (so neither a lost cache nor a lost ConfigMap orphans
// objects). inCluster tells whether the cluster's record exists.
func (r *Engine) previousInventory(ctx context.Context, s *sealiftv1.Sync, mgr *deploy.Manager) (inv deploy.Inventory, inCluster bool, err error) {
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
	return sealiftv1.DefaultTimeout
}

// pruneOptions are the prune rails of s.
func pruneOptions(s *sealiftv1.Sync) deploy.PruneOptions {
	b := s.Spec.PruneBudget
	if b == nil {
		return deploy.PruneOptions{}
	}
	return deploy.PruneOptions{AllowEmpty: b.AllowEmpty, MaxDeletes: b.MaxDeletes, MaxPercent: b.MaxPercent}
}

// ManagerOptions are the apply settings of s, shared by sync and diff so
// both see the cluster the same way.
func ManagerOptions(s *sealiftv1.Sync) deploy.ManagerOptions {
	ns := s.Namespace
	if ns == "" {
		ns = sealiftv1.DefaultNamespace
	}
	opts := deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{
		TargetNamespace:    s.Spec.TargetNamespace,
		AllowClusterScoped: s.Spec.AllowClusterScoped,
		Owner:              deploy.Owner{Name: s.Name, Namespace: ns},
		Adopt:              deploy.AdoptPolicy(s.Spec.Adopt),
		Force:              s.Spec.Force,
	}}
	if s.Spec.ServiceAccountName != "" {
		opts.ServiceAccount = ns + "/" + s.Spec.ServiceAccountName
	}
	return opts
}

// setStatus records res and err in s.Status; a failure's reason is the one
// err carries (ReasonOf).
func (r *Engine) setStatus(s *sealiftv1.Sync, res Outcome, err error) {
	now := metav1.Now()
	s.Status.ObservedGeneration = s.Generation
	if res.Digest != "" {
		s.Status.LastAttemptedDigest = res.Digest
	}
	meta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionReconciling)
	if err == nil && res.DriftChecked {
		msg := fmt.Sprintf("%s is applied; no drift", res.Digest)
		if len(res.Drifted) > 0 {
			msg = fmt.Sprintf("%s is applied; %d objects drifted (drift: detect, not corrected): %s", res.Digest, len(res.Drifted), strings.Join(res.Drifted, ", "))
		}
		meta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionStalled)
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: sealiftv1.ConditionReady, Status: metav1.ConditionTrue, Reason: sealiftv1.ReasonApplied, Message: msg, LastTransitionTime: now, ObservedGeneration: s.Generation,
		})
		return
	}
	var unavailable *SourceUnavailableError
	if errors.As(err, &unavailable) {
		// The cached revision is applied: Ready stays True, and the message
		// names the source error and the revision in use.
		meta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionStalled)
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: sealiftv1.ConditionReady, Status: metav1.ConditionTrue, Reason: sealiftv1.ReasonSourceUnavailable,
			Message: fmt.Sprintf("applied the cached revision %s; source unavailable: %v", res.Digest, unavailable.Err), LastTransitionTime: now, ObservedGeneration: s.Generation,
		})
		return
	}
	if err == nil {
		s.Status.LastAppliedDigest = res.Digest
		s.Status.LastAppliedRevision = res.Revision
		s.Status.ServedBy = res.ServedBy
		s.Status.VerifiedBy = res.Verdict.Signers
		entries := res.Inventory
		s.Status.Inventory = &sealiftv1.InventoryStatus{Count: len(entries), Entries: entries}
		// A revision re-applied (each interval of the controller) is not a
		// new entry.
		if len(s.Status.History) == 0 || s.Status.History[0].Digest != res.Digest {
			entry := sealiftv1.HistoryEntry{Digest: res.Digest, Revision: res.Revision, Signers: res.Verdict.Signers, AppliedAt: now}
			s.Status.History = append([]sealiftv1.HistoryEntry{entry}, s.Status.History...)
		}
		if len(s.Status.History) > maxHistory {
			s.Status.History = s.Status.History[:maxHistory]
		}
		msg := fmt.Sprintf("applied %s (%d objects)", res.Digest, len(entries))
		if res.ResolvedAtMirror {
			msg += fmt.Sprintf("; resolved at mirror %s because the canonical registry did not answer", res.ResolvedBy)
		}
		meta.RemoveStatusCondition(&s.Status.Conditions, sealiftv1.ConditionStalled)
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: sealiftv1.ConditionReady, Status: metav1.ConditionTrue, Reason: sealiftv1.ReasonApplied,
			Message: msg, LastTransitionTime: now, ObservedGeneration: s.Generation,
		})
		return
	}
	reason := ReasonOf(err)
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: sealiftv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: err.Error(), LastTransitionTime: now, ObservedGeneration: s.Generation,
	})
	if errdef.IsTerminal(err) {
		meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
			Type: sealiftv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: err.Error(), LastTransitionTime: now, ObservedGeneration: s.Generation,
		})
	}
}

// ControllerOnlyFields lists the fields of s that only the in-cluster
// controller acts on (spec.interval, spec.retryInterval, spec.dependsOn):
// a single Reconcile, as `sync --once` runs, ignores them, and the CLI says
// so rather than ignoring them silently.
func ControllerOnlyFields(s *sealiftv1.Sync) []string {
	var fields []string
	if s.Spec.Interval != nil {
		fields = append(fields, "spec.interval")
	}
	if s.Spec.RetryInterval != nil {
		fields = append(fields, "spec.retryInterval")
	}
	if len(s.Spec.DependsOn) > 0 {
		fields = append(fields, "spec.dependsOn")
	}
	return fields
}

// maxHistory is how many applied revisions a Sync's status lists.
const maxHistory = 10

func enforce(s *sealiftv1.Sync) bool { return s.Spec.Verify.Mode != sealiftv1.VerifyAudit }

// supported refuses the parts of the spec this version does not act on yet,
// rather than silently ignoring them.
func supported(s *sealiftv1.Sync) error {
	unsupported := func(field string) error {
		return fmt.Errorf("Sync %s: %s is not supported by this version: %w", s.Key(), field, errdef.ErrInvalidObject)
	}
	switch {
	case s.Spec.Source.SecretRef != nil || s.Spec.Source.CertSecretRef != nil:
		return unsupported("spec.source.secretRef and certSecretRef")
	}
	return nil
}

// reference builds the pull reference from the source URL and ref. The
// revision is named once: by the URL (":tag" or "@digest") or by
// spec.source.ref, never both. A Sync that names none reads DefaultTag.
func reference(s *sealiftv1.Sync) (pull.Reference, error) {
	ref, err := pull.ParseReference(s.Spec.Source.URL)
	if err != nil {
		return ref, fmt.Errorf("spec.source.url: %w", err)
	}
	sel := sourceRef(s)
	if !ref.IsBare() {
		if sel != (sealiftv1.Ref{}) {
			return ref, fmt.Errorf("spec.source.url %q names a tag or digest and spec.source.ref selects a revision too; keep one of them: %w", s.Spec.Source.URL, errdef.ErrInvalidReference)
		}
		return ref, nil
	}
	switch {
	case sel.Digest != "":
		ref.Digest = sel.Digest
	case sel.Tag != "":
		ref.Tag = sel.Tag
	case sel.Semver != "":
		return ref, nil // the tag is chosen at resolve time
	default:
		ref = ref.WithDefaultTag()
	}
	// Re-parse so a bad tag or digest is caught with the reference's own checks.
	return pull.ParseReference(ref.String())
}

// sourceRef is s's ref, the zero Ref when it sets none.
func sourceRef(s *sealiftv1.Sync) sealiftv1.Ref {
	if s.Spec.Source.Ref == nil {
		return sealiftv1.Ref{}
	}
	return *s.Spec.Source.Ref
}

// selector is what s asks for at ref's repository, as recorded with each
// applied revision: a later resolution is compared with the last one only
// when it asks for the same thing.
func selector(s *sealiftv1.Sync, ref pull.Reference) string {
	if r := sourceRef(s); r.Semver != "" {
		return fmt.Sprintf("%s semver %q filter %q", ref.Repo(), r.Semver, r.SemverFilter)
	}
	return ref.String()
}

// replicas lists where the artifact may be read: the mirrors in order, each
// over plain HTTP only when its own insecure flag says so, then the
// canonical repository.
func replicas(s *sealiftv1.Sync, opts pull.RemoteOptions) ([]pull.Replica, error) {
	mirrors := make([]pull.Endpoint, len(s.Spec.Source.Mirrors))
	for i, m := range s.Spec.Source.Mirrors {
		mirrors[i] = pull.Endpoint{URL: m.URL, PlainHTTP: m.Insecure}
	}
	canonical := pull.Endpoint{URL: s.Spec.Source.URL, PlainHTTP: s.Spec.Source.Insecure}
	reps, err := pull.NewReplicas(canonical, mirrors, opts)
	if err != nil {
		return nil, fmt.Errorf("spec.source: %w", err)
	}
	return reps, nil
}

func replicaNamed(reps []pull.Replica, name string) oras.ReadOnlyTarget {
	for _, s := range reps {
		if s.Name == name {
			return s.Target
		}
	}
	return reps[len(reps)-1].Target
}

// policy builds the verification policy; with mode enforce, a Sync without
// keys is refused instead of applying unchecked content.
func policy(s *sealiftv1.Sync) (verify.Policy, error) {
	p := verify.Policy{Mode: verify.Enforce, Threshold: s.Spec.Verify.Threshold}
	if s.Spec.Verify.Mode == sealiftv1.VerifyAudit {
		p.Mode = verify.Audit
	}
	for i, k := range s.Spec.Verify.Keys {
		var (
			pub crypto.PublicKey
			err error
		)
		switch {
		case k.Path != "":
			pub, err = cosignfmt.LoadPublicKeyFile(k.Path)
		case k.PEM != "":
			pub, err = cosignfmt.LoadPublicKey([]byte(k.PEM))
		default:
			err = fmt.Errorf("secretRef keys are read by the in-cluster controller; use path or pem with --once: %w", errdef.ErrInvalidObject)
		}
		if err != nil {
			return p, fmt.Errorf("spec.verify.keys[%d]: %w", i, err)
		}
		p.Keys = append(p.Keys, pub)
	}
	for _, id := range s.Spec.Verify.Identities {
		p.Identities = append(p.Identities, verify.Identity(id))
	}
	p.Repositories = append(p.Repositories, s.Spec.Verify.Repositories...)
	if tr := s.Spec.Verify.TrustedRoot; tr != nil {
		if tr.Path == "" {
			return p, fmt.Errorf("spec.verify.trustedRoot: secretRef is read by the in-cluster controller; use path with --once: %w", errdef.ErrInvalidObject)
		}
		data, err := cosignfmt.LoadTrustedRootFile(tr.Path)
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

// auditWithoutKeys is the verdict reason of a Sync in audit mode that lists
// no keys or identities.
const auditWithoutKeys = "not checked: spec.verify is in audit mode and lists no keys or identities"

// signatureRepository returns the repository holding the signatures when
// the Sync names one apart from the artifact's, else nil. It is reached over
// plain HTTP only when it is on the canonical registry and that is insecure,
// and gets the canonical registry's static credentials only when it is on
// that registry (opts are bound to it).
func (r *Engine) signatureRepository(s *sealiftv1.Sync, artifact pull.Reference, opts pull.RemoteOptions) (oras.ReadOnlyTarget, error) {
	if s.Spec.Verify.SignatureRepository == "" {
		return nil, nil
	}
	ref, err := pull.ParseReference(s.Spec.Verify.SignatureRepository)
	if err != nil {
		return nil, fmt.Errorf("spec.verify.signatureRepository: %w", err)
	}
	ref.Tag, ref.Digest = artifact.Tag, artifact.Digest
	return pull.NewRepository(ref, opts.WithPlainHTTP(s.Spec.Source.Insecure && ref.Registry == artifact.Registry))
}
