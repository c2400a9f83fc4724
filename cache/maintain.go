package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// CheckReport is what Check found.
type CheckReport struct {
	Checked int      `json:"checked"`
	Corrupt []string `json:"corrupt"` // digests evicted, sorted
}

// GCReport is what GC removed.
type GCReport struct {
	RemovedBlobs int   `json:"removedBlobs"`
	FreedBytes   int64 `json:"freedBytes"`
}

// Check re-hashes every indexed blob and evicts those whose file is missing,
// has the wrong size or does not hash to its digest.
func (c *Cache) Check(ctx context.Context) (CheckReport, error) {
	report := CheckReport{Corrupt: []string{}}
	indexed := map[digest.Digest]blobRecord{}
	if err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
			var rec blobRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				rec.Size = -1 // unreadable entry: reported corrupt below
			}
			indexed[digest.Digest(k)] = rec
			return nil
		})
	}); err != nil {
		return report, fmt.Errorf("cache: check: %w", err)
	}
	for d, rec := range indexed {
		if err := ctx.Err(); err != nil {
			return report, err
		}
		bad, fi, err := c.checkBlob(ctx, d, rec)
		if err != nil {
			return report, fmt.Errorf("cache: check %s: %w", d, err)
		}
		report.Checked++
		if !bad {
			continue
		}
		evicted, err := c.evict(d, fi)
		if err != nil {
			return report, fmt.Errorf("cache: check: evict %s: %w", d, err)
		}
		if evicted {
			report.Corrupt = append(report.Corrupt, d.String())
		}
	}
	slices.Sort(report.Corrupt)
	return report, nil
}

// checkBlob re-hashes one blob. It returns the file it read (nil if none)
// so that eviction removes that file and not a replacement.
func (c *Cache) checkBlob(ctx context.Context, d digest.Digest, rec blobRecord) (bool, os.FileInfo, error) {
	if validDescriptor(ocispec.Descriptor{Digest: d}) != nil {
		return true, nil, nil
	}
	f, err := os.Open(c.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, nil, err
	}
	if fi.Size() != rec.Size {
		return true, fi, nil
	}
	h := digest.SHA256.Digester()
	n, err := io.Copy(h.Hash(), ctxReader{ctx, f})
	if err != nil {
		return false, nil, err
	}
	return n != rec.Size || h.Digest() != d, fi, nil
}

// GC removes every blob that no sync's last-applied or history revision
// and no pin reaches, except blobs written or found present (by Exists or
// Fetch) within Options.GCGracePeriod, along with the tags, artifact records
// and verdicts of removed content. Roots and index changes are read and made
// in one write transaction, so a concurrent Commit lands either before (and
// is kept) or after (and finds what GC removed gone).
func (c *Cache) GC(ctx context.Context) (GCReport, error) {
	if err := ctx.Err(); err != nil {
		return GCReport{}, err
	}
	var cutoff time.Time // blobs added or found present after it are kept
	if c.opts.GCGracePeriod > 0 {
		cutoff = c.now().Add(-c.opts.GCGracePeriod)
	}
	removed, records, err := c.collect(ctx, cutoff)
	if err != nil {
		return GCReport{}, fmt.Errorf("cache: gc: %w", err)
	}
	report, err := c.removeCollected(removed, records)
	if err != nil {
		return report, fmt.Errorf("cache: gc: %w", err)
	}
	if cutoff.IsZero() {
		c.forgetTouchedBefore(c.now()) // no grace: the marks serve nothing
	} else {
		c.forgetTouchedBefore(cutoff)
	}
	return report, nil
}

// collect unindexes, in one write transaction, the blobs GC removes, and
// returns them with their records.
func (c *Cache) collect(ctx context.Context, cutoff time.Time) (removed []digest.Digest, records []blobRecord, err error) {
	tx, err := c.db.Begin(true)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	roots, err := rootsOf(tx)
	if err != nil {
		return nil, nil, err
	}
	reached, _, err := c.walk(ctx, roots, true)
	if err != nil {
		return nil, nil, err
	}
	keep := map[digest.Digest]bool{}
	for _, d := range reached {
		keep[d.Digest] = true
	}
	recent := func(t time.Time) bool { return !cutoff.IsZero() && t.After(cutoff) }

	// From here to the commit, no Exists or Fetch can find a blob present:
	// each either marked it before (and it is kept) or reads the index
	// after the commit (and finds it gone, so the pull fetches it again).
	c.gcMu.Lock()
	defer c.gcMu.Unlock()
	var touched map[digest.Digest]bool
	if !cutoff.IsZero() {
		touched = c.touchedSince(cutoff)
	}
	blobs := tx.Bucket(bucketBlobs)
	if err := blobs.ForEach(func(k, v []byte) error {
		d := digest.Digest(k)
		if keep[d] {
			return nil
		}
		var rec blobRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			rec = blobRecord{} // unreadable entry: collected
		}
		if recent(rec.Added) || touched[d] {
			keep[d] = true
			return nil
		}
		removed = append(removed, d)
		records = append(records, rec)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, d := range removed {
		if err := blobs.Delete([]byte(d)); err != nil {
			return nil, nil, err
		}
	}
	if err := c.dropMetadata(tx, keep, recent); err != nil {
		return nil, nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	return removed, records, nil
}

// removeCollected removes the files of the blobs GC unindexed, unless a
// push indexed one again meanwhile. It holds mu so that no push renames or
// indexes a blob while it decides.
func (c *Cache) removeCollected(removed []digest.Digest, records []blobRecord) (GCReport, error) {
	var report GCReport
	if len(removed) == 0 {
		return report, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, d := range removed {
		if validDescriptor(ocispec.Descriptor{Digest: d}) != nil {
			continue
		}
		_, indexed, err := c.blobRecord(d)
		if err != nil {
			return report, err
		}
		if indexed {
			continue // pushed again since GC unindexed it
		}
		if err := os.Remove(c.blobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return report, err
		}
		report.RemovedBlobs++
		report.FreedBytes += max(records[i].Size, 0)
	}
	return report, nil
}

// dropMetadata removes tags, artifact records and verdicts that point at
// content neither kept nor cached any more.
func (c *Cache) dropMetadata(tx *bolt.Tx, keep map[digest.Digest]bool, recent func(time.Time) bool) error {
	blobs := tx.Bucket(bucketBlobs)
	gone := func(d string) bool {
		return !keep[digest.Digest(d)] && blobs.Get([]byte(d)) == nil
	}
	var dropTags, dropArtifacts, dropVerdicts [][]byte
	if err := tx.Bucket(bucketTags).ForEach(func(k, v []byte) error {
		var desc ocispec.Descriptor
		if json.Unmarshal(v, &desc) != nil || gone(desc.Digest.String()) {
			dropTags = append(dropTags, k)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bucketArtifacts).ForEach(func(k, _ []byte) error {
		if gone(string(k)) {
			dropArtifacts = append(dropArtifacts, k)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bucketVerdicts).ForEach(func(k, v []byte) error {
		var verdict Verdict
		if json.Unmarshal(v, &verdict) != nil {
			dropVerdicts = append(dropVerdicts, k)
			return nil
		}
		dgst, _, _ := bytes.Cut(k, []byte("|"))
		if gone(string(dgst)) && !recent(verdict.Time) {
			dropVerdicts = append(dropVerdicts, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, drop := range []struct {
		bucket []byte
		keys   [][]byte
	}{{bucketTags, dropTags}, {bucketArtifacts, dropArtifacts}, {bucketVerdicts, dropVerdicts}} {
		b := tx.Bucket(drop.bucket)
		for _, k := range drop.keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// rootsOf returns the manifests of every sync's last-applied and history
// revisions, and the pinned blobs.
func rootsOf(tx *bolt.Tx) ([]ocispec.Descriptor, error) {
	var roots []ocispec.Descriptor
	if err := tx.Bucket(bucketPins).ForEach(func(k, v []byte) error {
		var p Pin
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("index entry %q: %w", k, err)
		}
		roots = append(roots, p.Descriptor)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketLast).ForEach(func(k, v []byte) error {
		var rev Revision
		if err := json.Unmarshal(v, &rev); err != nil {
			return fmt.Errorf("index entry %q: %w", k, err)
		}
		roots = append(roots, rev.Manifest)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
		var history []Revision
		if err := json.Unmarshal(v, &history); err != nil {
			return fmt.Errorf("index entry %q: %w", k, err)
		}
		for _, rev := range history {
			roots = append(roots, rev.Manifest)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return roots, nil
}

// walk returns roots and every descriptor they reach through manifests and
// indexes, each digest once. Nodes whose file is missing or damaged are
// returned but not descended into; damaged counts them. With strict set, any
// other failure (content that does not parse) stops the walk, so GC never
// removes what it could not prove unreachable; without it such nodes are
// skipped too.
func (c *Cache) walk(ctx context.Context, roots []ocispec.Descriptor, strict bool) (out []ocispec.Descriptor, damaged int, err error) {
	seen := map[digest.Digest]bool{}
	queue := slices.Clone(roots)
	fetcher := content.FetcherFunc(c.fetchMetadata)
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		node := queue[0]
		queue = queue[1:]
		if seen[node.Digest] {
			continue
		}
		seen[node.Digest] = true
		out = append(out, node)
		children, err := content.Successors(ctx, fetcher, node)
		switch {
		case err == nil:
			queue = append(queue, children...)
		case errors.Is(err, errdef.ErrNotFound), errors.Is(err, errdef.ErrCorrupt):
			damaged++
		case ctx.Err() != nil:
			return nil, 0, ctx.Err()
		case strict:
			return nil, 0, fmt.Errorf("read %s: %w", node.Digest, err)
		}
	}
	return out, damaged, nil
}

// fetchMetadata reads a manifest or index for walking, checked against desc
// and capped at limits.MaxManifestBytes. It never evicts and never touches
// the index, so it can run inside a write transaction.
func (c *Cache) fetchMetadata(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := validDescriptor(desc); err != nil {
		return nil, notFound{"blob " + desc.Digest.String()}
	}
	if desc.Size > limits.MaxManifestBytes {
		return nil, fmt.Errorf("manifest %s of %d bytes: %w", desc.Digest, desc.Size, errdef.ErrSizeExceedsLimit)
	}
	f, err := os.Open(c.blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound{"blob " + desc.Digest.String()}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(ctxReader{ctx, io.LimitReader(f, desc.Size+1)})
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != desc.Size || digest.SHA256.FromBytes(data) != desc.Digest {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, errdef.ErrCorrupt)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}
