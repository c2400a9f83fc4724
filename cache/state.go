package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/sealift-dev/sealift/errdef"
)

// Verdict is the outcome of checking a digest's signatures against one
// policy, as the verify stage reported it. Verdicts are keyed by (Digest,
// PolicyHash): a changed policy needs a new verdict.
type Verdict struct {
	Digest     string    `json:"digest"`
	PolicyHash string    `json:"policyHash"`
	Verified   bool      `json:"verified"`
	Signers    []string  `json:"signers,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Time       time.Time `json:"time"`
}

// Revision is what one reconcile of a sync applied.
type Revision struct {
	Sync       string             `json:"sync"` // namespace/name
	Repository string             `json:"repository"`
	Manifest   ocispec.Descriptor `json:"manifest"`
	// Selector is what the sync asked for when this revision was resolved
	// (its repository and tag, semver range or digest); Tag is the tag it
	// resolved (a semver range's pick). Reconcile compares them with the
	// next resolution to refuse going back. Empty in older records.
	Selector  string    `json:"selector,omitempty"`
	Tag       string    `json:"tag,omitempty"`
	Verdict   Verdict   `json:"verdict"`
	Inventory []string  `json:"inventory,omitempty"` // object ids
	AppliedAt time.Time `json:"appliedAt"`
}

// Artifact is one manifest the cache knows, as `sealift cache ls` shows it.
type Artifact struct {
	Manifest   ocispec.Descriptor `json:"manifest"`
	Repository string             `json:"repository,omitempty"`
	// Size adds up the manifest and every blob it reaches (each once).
	Size int64 `json:"size"`
	// Verified is true once a committed revision's verdict verified it.
	Verified bool      `json:"verified"`
	Verdicts []Verdict `json:"verdicts"`
	// UsedBy lists the syncs whose last-applied or history revisions hold it.
	UsedBy []string `json:"usedBy"`
	// AppliedBy lists the syncs whose last-applied revision it is (the
	// others of UsedBy keep it for rollback).
	AppliedBy []string `json:"appliedBy"`
	// Pinned is true while a pin keeps it through GC.
	Pinned bool `json:"pinned"`
}

// VerdictOption narrows which recorded verdict Verdict returns.
type VerdictOption func(*verdictQuery)

type verdictQuery struct {
	maxAge time.Duration
}

// MaxAge makes Verdict pass over a verdict recorded more than d ago, or
// recorded at a time still to come (a clock set back): it reports none, so
// the caller checks the signatures again. The engine asks for
// limits.MaxVerdictAge while the registry is reachable and for any age
// offline. Zero or negative d means any age.
func MaxAge(d time.Duration) VerdictOption {
	return func(q *verdictQuery) { q.maxAge = d }
}

// Verdict returns the recorded verdict for (dgst, policyHash): only the
// exact policy that produced a verdict finds it. By default a verdict of
// any age is returned; MaxAge bounds it.
func (c *Cache) Verdict(ctx context.Context, dgst, policyHash string, opts ...VerdictOption) (Verdict, bool, error) {
	if err := ctx.Err(); err != nil {
		return Verdict{}, false, err
	}
	var q verdictQuery
	for _, o := range opts {
		o(&q)
	}
	var v Verdict
	var ok bool
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketVerdicts), verdictKey(dgst, policyHash), &v)
		return err
	})
	if err != nil {
		return Verdict{}, false, fmt.Errorf("cache: verdict %s: %w", dgst, err)
	}
	if ok && q.maxAge > 0 {
		now := c.now()
		if now.Sub(v.Time) > q.maxAge || v.Time.After(now) {
			return Verdict{}, false, nil
		}
	}
	return v, ok, nil
}

// RecordVerdict stores v (replacing any verdict for the same digest and
// policy), for flows that verify without applying. A zero Time is set to now.
func (c *Cache) RecordVerdict(ctx context.Context, v Verdict) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.Digest == "" {
		return errors.New("cache: record verdict: no digest")
	}
	if v.Time.IsZero() {
		v.Time = c.now().UTC()
	}
	return c.commitTx(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketVerdicts), verdictKey(v.Digest, v.PolicyHash), v)
	})
}

// Commit records what a reconcile applied, in one write transaction: the
// verdict (unless rev.Verdict is zero), the manifest as an artifact of
// rev.Repository (marked verified when the verdict says so), rev as the
// sync's last-applied revision, and the revision it replaces at the head of
// the sync's history, trimmed to Options.Retention. Re-committing the
// last-applied digest updates it in place without growing the history; a
// revision that comes back from the history leaves it.
//
// The manifest and every blob it reaches must be cached (errdef.ErrNotFound
// otherwise), so that what was applied can be applied again offline.
// Concurrent Commits share one write transaction (see
// Options.CommitBatchDelay); each still lands whole or not at all. Zero
// times are set to now.
func (c *Cache) Commit(ctx context.Context, rev Revision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rev.Sync == "" {
		return errors.New("cache: commit: revision names no sync")
	}
	if err := validDescriptor(rev.Manifest); err != nil {
		return fmt.Errorf("cache: commit %s: %w", rev.Sync, err)
	}
	dgst := rev.Manifest.Digest.String()
	storeVerdict := rev.Verdict.Digest != "" || rev.Verdict.PolicyHash != "" || rev.Verdict.Verified
	if storeVerdict {
		if rev.Verdict.Digest == "" {
			rev.Verdict.Digest = dgst
		}
		if rev.Verdict.Digest != dgst {
			return fmt.Errorf("cache: commit %s: verdict is for %s, the revision applied %s", rev.Sync, rev.Verdict.Digest, dgst)
		}
		if rev.Verdict.Time.IsZero() {
			rev.Verdict.Time = c.now().UTC()
		}
	}
	if rev.AppliedAt.IsZero() {
		rev.AppliedAt = c.now().UTC()
	}
	// Read what the revision reaches before taking the write lock; the
	// transaction then checks that all of it is indexed, so a revision is
	// recorded only whole, and GC (which runs in a write transaction too)
	// either removed a blob before (the commit fails, the pull runs again) or
	// sees the revision as a root.
	reached, err := c.required(ctx, rev.Manifest)
	if err != nil {
		return fmt.Errorf("cache: commit %s@%s: %w", rev.Sync, dgst, err)
	}
	key := []byte(rev.Sync)
	// The function may run more than once (Batch retries it alone when a
	// batch fails), so it only reads rev and the transaction.
	err = c.commitTx(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketBlobs).Get([]byte(dgst)) == nil {
			return fmt.Errorf("manifest %s is not cached: %w", dgst, errdef.ErrNotFound)
		}
		for _, d := range reached[1:] {
			var rec blobRecord
			ok, err := getJSON(tx.Bucket(bucketBlobs), []byte(d.Digest), &rec)
			if err != nil {
				return err
			}
			if !ok || rec.Size != d.Size {
				return fmt.Errorf("blob %s of the revision is not cached: %w", d.Digest, errdef.ErrNotFound)
			}
		}
		if storeVerdict {
			if err := putJSON(tx.Bucket(bucketVerdicts), verdictKey(dgst, rev.Verdict.PolicyHash), rev.Verdict); err != nil {
				return err
			}
		}
		if err := upsertArtifact(tx, rev.Manifest, rev.Repository, rev.Verdict.Verified); err != nil {
			return err
		}
		var prev Revision
		hadPrev, err := getJSON(tx.Bucket(bucketLast), key, &prev)
		if err != nil {
			return err
		}
		var history []Revision
		if _, err := getJSON(tx.Bucket(bucketHistory), key, &history); err != nil {
			return err
		}
		if hadPrev && prev.Manifest.Digest != rev.Manifest.Digest {
			history = append([]Revision{prev}, history...)
		}
		history = slices.DeleteFunc(history, func(h Revision) bool { return h.Manifest.Digest == rev.Manifest.Digest })
		if len(history) > c.opts.Retention {
			history = history[:c.opts.Retention]
		}
		if err := putJSON(tx.Bucket(bucketHistory), key, history); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketLast), key, rev)
	})
	if err != nil {
		return fmt.Errorf("cache: commit %s@%s: %w", rev.Sync, dgst, err)
	}
	return nil
}

// required returns root and the blobs a revision needs to be applied again:
// what its manifests and indexes list, but not their subjects (a referrer's
// subject is another artifact, which the pull does not fetch). Content that
// is missing or does not parse is left to the apply, which reads it all.
func (c *Cache) required(ctx context.Context, root ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	out := []ocispec.Descriptor{root}
	seen := map[digest.Digest]bool{root.Digest: true}
	for i := 0; i < len(out); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !isManifest(out[i].MediaType) {
			continue
		}
		rc, err := c.fetchMetadata(ctx, out[i])
		if err != nil {
			continue
		}
		var doc struct {
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		err = json.NewDecoder(rc).Decode(&doc)
		rc.Close()
		if err != nil {
			continue
		}
		children := slices.Concat(doc.Layers, doc.Manifests)
		if doc.Config != nil {
			children = append(children, *doc.Config)
		}
		for _, d := range children {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// commitTx runs fn in a write transaction shared with concurrent Commits,
// blob records, tags and verdicts (one fsync for all of them), or alone
// when batching is off. fn may run more than once (bbolt retries a batch's
// functions alone when one fails), so it must be idempotent.
func (c *Cache) commitTx(fn func(*bolt.Tx) error) error {
	if c.opts.CommitBatchDelay < 0 {
		return c.db.Update(fn)
	}
	return c.db.Batch(fn)
}

// LastApplied returns the revision last committed for sync.
func (c *Cache) LastApplied(ctx context.Context, sync string) (Revision, bool, error) {
	if err := ctx.Err(); err != nil {
		return Revision{}, false, err
	}
	var rev Revision
	var ok bool
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketLast), []byte(sync), &rev)
		return err
	})
	if err != nil {
		return Revision{}, false, fmt.Errorf("cache: last applied %s: %w", sync, err)
	}
	return rev, ok, nil
}

// History returns the previous revisions kept for sync, newest first.
func (c *Cache) History(ctx context.Context, sync string) ([]Revision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var history []Revision
	err := c.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bucketHistory), []byte(sync), &history)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cache: history %s: %w", sync, err)
	}
	return history, nil
}

// List returns the artifacts the cache knows (manifests committed by a sync
// or tagged), ordered by digest. Size counts the blobs a manifest reaches; a
// manifest whose file is gone counts only itself.
func (c *Cache) List(ctx context.Context) ([]Artifact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Artifact
	err := c.db.View(func(tx *bolt.Tx) error {
		usedBy, appliedBy, err := syncsByDigest(tx)
		if err != nil {
			return err
		}
		verdicts := tx.Bucket(bucketVerdicts).Cursor()
		pins := tx.Bucket(bucketPins)
		return tx.Bucket(bucketArtifacts).ForEach(func(k, v []byte) error {
			var rec artifactRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("index entry %q: %w", k, err)
			}
			a := Artifact{Manifest: rec.Manifest, Repository: rec.Repository, Verified: rec.Verified, Verdicts: []Verdict{}, UsedBy: usedBy[string(k)]}
			a.AppliedBy = appliedBy[string(k)]
			if a.UsedBy == nil {
				a.UsedBy = []string{}
			}
			if a.AppliedBy == nil {
				a.AppliedBy = []string{}
			}
			a.Pinned = pins.Get(k) != nil
			prefix := verdictKey(string(k), "")
			for vk, vv := verdicts.Seek(prefix); vk != nil && bytes.HasPrefix(vk, prefix); vk, vv = verdicts.Next() {
				var verdict Verdict
				if err := json.Unmarshal(vv, &verdict); err != nil {
					return fmt.Errorf("index entry %q: %w", vk, err)
				}
				a.Verdicts = append(a.Verdicts, verdict)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: list: %w", err)
	}
	for i := range out {
		reached, _, err := c.walk(ctx, []ocispec.Descriptor{out[i].Manifest}, false)
		if err != nil {
			return nil, fmt.Errorf("cache: list: %w", err)
		}
		for _, d := range reached {
			out[i].Size += d.Size
		}
	}
	return out, nil
}

// syncsByDigest maps each manifest digest to the syncs whose last-applied or
// history revisions hold it, and to those whose last-applied revision it is,
// sorted.
func syncsByDigest(tx *bolt.Tx) (users, appliers map[string][]string, err error) {
	users, appliers = map[string][]string{}, map[string][]string{}
	add := func(dgst, sync string) {
		if !slices.Contains(users[dgst], sync) {
			users[dgst] = append(users[dgst], sync)
		}
	}
	if err := tx.Bucket(bucketLast).ForEach(func(k, v []byte) error {
		var rev Revision
		if err := json.Unmarshal(v, &rev); err != nil {
			return fmt.Errorf("index entry %q: %w", k, err)
		}
		add(rev.Manifest.Digest.String(), string(k))
		appliers[rev.Manifest.Digest.String()] = append(appliers[rev.Manifest.Digest.String()], string(k))
		return nil
	}); err != nil {
		return nil, nil, err
	}
	if err := tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
		var history []Revision
		if err := json.Unmarshal(v, &history); err != nil {
			return fmt.Errorf("index entry %q: %w", k, err)
		}
		for _, rev := range history {
			add(rev.Manifest.Digest.String(), string(k))
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, s := range users {
		slices.Sort(s)
	}
	for _, s := range appliers {
		slices.Sort(s)
	}
	return users, appliers, nil
}

// upsertArtifact records desc as an artifact, keeping what an earlier record
// knew: a repository once named stays, and verified is sticky.
func upsertArtifact(tx *bolt.Tx, desc ocispec.Descriptor, repository string, verified bool) error {
	b := tx.Bucket(bucketArtifacts)
	key := []byte(desc.Digest.String())
	var rec artifactRecord
	if _, err := getJSON(b, key, &rec); err != nil {
		return err
	}
	rec.Manifest = desc
	if repository != "" {
		rec.Repository = repository
	}
	rec.Verified = rec.Verified || verified
	return putJSON(b, key, rec)
}

// verdictKey is the verdicts bucket key: digests hold no '|', so the prefix
// "digest|" selects one digest's verdicts.
func verdictKey(dgst, policyHash string) []byte {
	return []byte(dgst + "|" + policyHash)
}
