package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/errdef"
)

const (
	// DefaultRetention is how many previous revisions each sync keeps for
	// rollback: enough to step back through a bad week of releases while
	// keeping the cache small.
	DefaultRetention = 5
	// DefaultOpenTimeout is how long Open waits for another owner to release
	// the directory: long enough to ride out a restart, short enough to report
	// a second process quickly.
	DefaultOpenTimeout = time.Second
	// DefaultGCGracePeriod keeps blobs written this recently through GC, so a
	// pull whose revision is not committed yet does not lose its content.
	DefaultGCGracePeriod = 10 * time.Minute
	// DefaultCommitBatchDelay is how long a Commit waits for others to share
	// its write transaction: well under the cost of the fsync it saves, so a
	// lone reconcile barely notices it and a burst of them syncs once.
	DefaultCommitBatchDelay = 2 * time.Millisecond
)

// Modes of what the cache writes: owner only. Cached manifests hold
// whatever the artifacts hold, Secrets included, and verdicts decide what
// is applied; no other local user may read or replace them, whatever the
// umask or the modes of a directory that existed before.
const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

// File and directory names inside the cache directory.
const (
	indexFile   = "index.db"
	blobsDir    = "blobs"
	tmpDir      = "tmp"
	layoutFile  = "oci-layout"
	layoutIndex = "index.json"
)

// bbolt buckets.
var (
	bucketBlobs     = []byte("blobs")     // digest → blobRecord
	bucketTags      = []byte("tags")      // reference → ocispec.Descriptor
	bucketArtifacts = []byte("artifacts") // manifest digest → artifactRecord
	bucketVerdicts  = []byte("verdicts")  // digest|policy hash → Verdict
	bucketLast      = []byte("last")      // sync → Revision
	bucketHistory   = []byte("history")   // sync → []Revision, newest first
	bucketPins      = []byte("pins")      // digest → Pin
	allBuckets      = [][]byte{bucketBlobs, bucketTags, bucketArtifacts, bucketVerdicts, bucketLast, bucketHistory, bucketPins}
)

// Options tunes a cache. The zero value means the defaults.
type Options struct {
	// Retention is the number of previous revisions kept per sync; zero means
	// DefaultRetention. Negative values are rejected.
	Retention int
	// OpenTimeout is how long Open waits for the directory's lock; zero means
	// DefaultOpenTimeout. Negative values are rejected.
	OpenTimeout time.Duration
	// GCGracePeriod keeps blobs written this recently through GC; zero means
	// DefaultGCGracePeriod, negative means none (safe only when no pull can
	// be in flight, as in the CLI, which owns the directory).
	GCGracePeriod time.Duration
	// CommitBatchDelay is how long Commit waits to share one write
	// transaction (and one fsync) with concurrent Commits; zero means
	// DefaultCommitBatchDelay, negative means every Commit has its own
	// transaction at once.
	CommitBatchDelay time.Duration
	// Metrics receives hit, miss, byte and eviction counts; nil means none
	// are kept.
	Metrics Metrics
}

// Cache is an open cache directory. Its methods are safe for concurrent use.
type Cache struct {
	dir   string
	db    *bolt.DB
	opts  Options
	now   func() time.Time
	blobs string // dir/blobs/sha256

	// mu orders the steps that move blob files against each other: a push's
	// rename and index record (read-locked: pushes do not exclude each
	// other, so concurrent pushes share one index transaction), an
	// eviction's check and removal, and GC's removal of files it unindexed
	// (each write-locked).
	mu sync.RWMutex

	// touched records when each blob was last found present (by Exists or
	// Fetch), so that GC keeps content a pull in flight decided not to copy
	// again. One process owns the directory, so memory is enough: a crash
	// ends the pull too.
	touchMu sync.Mutex
	touched map[digest.Digest]time.Time
	// gcMu is held shared by a lookup from its mark to its index read, and
	// exclusively by GC from its reading of the marks to its commit, so that
	// no lookup finds a blob present that GC is removing unseen.
	gcMu sync.RWMutex
}

// Cache is a content target for oras-go.
var _ oras.Target = (*Cache)(nil)

// blobRecord is the index entry of one blob.
type blobRecord struct {
	Size      int64     `json:"size"`
	MediaType string    `json:"mediaType,omitempty"`
	Added     time.Time `json:"added"`
}

// artifactRecord is the index entry of one manifest known as an artifact.
type artifactRecord struct {
	Manifest   ocispec.Descriptor `json:"manifest"`
	Repository string             `json:"repository,omitempty"`
	Verified   bool               `json:"verified,omitempty"`
}

// Open opens (creating it when needed) the cache in dir, takes ownership of
// it, and repairs what a crash may have left: temporary files are removed,
// index entries whose blob file is missing are dropped, and blob files the
// index does not know are adopted when they hash to their names.
func Open(ctx context.Context, dir string, opts Options) (*Cache, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("cache: no directory given")
	}
	if opts.Retention < 0 {
		return nil, fmt.Errorf("cache: retention %d is negative", opts.Retention)
	}
	if opts.OpenTimeout < 0 {
		return nil, fmt.Errorf("cache: open timeout %s is negative", opts.OpenTimeout)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.GCGracePeriod == 0 {
		opts.GCGracePeriod = DefaultGCGracePeriod
	}
	if opts.CommitBatchDelay == 0 {
		opts.CommitBatchDelay = DefaultCommitBatchDelay
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	c := &Cache{
		dir:     abs,
		opts:    opts,
		now:     time.Now,
		blobs:   filepath.Join(abs, blobsDir, digest.SHA256.String()),
		touched: map[digest.Digest]time.Time{},
	}
	for _, d := range []string{abs, filepath.Join(abs, blobsDir), c.blobs, filepath.Join(abs, tmpDir)} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return nil, fmt.Errorf("cache %s: %w", abs, err)
		}
		if err := restrict(d, dirMode); err != nil {
			return nil, fmt.Errorf("cache %s: %w", abs, err)
		}
	}
	if err := writeLayoutMarkers(abs); err != nil {
		return nil, fmt.Errorf("cache %s: %w", abs, err)
	}
	if err := restrict(filepath.Join(abs, indexFile), fileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache %s: %w", abs, err)
	}

	db, err := bolt.Open(filepath.Join(abs, indexFile), fileMode, &bolt.Options{Timeout: opts.OpenTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("cache %s: waited %s for its lock: %w", abs, opts.OpenTimeout, errdef.ErrCacheLocked)
		}
		return nil, fmt.Errorf("cache %s: open index: %w", abs, err)
	}
	if opts.CommitBatchDelay > 0 {
		db.MaxBatchDelay = opts.CommitBatchDelay
	}
	c.db = db
	if err := c.init(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cache %s: %w", abs, err)
	}
	return c, nil
}

// Dir returns the cache's absolute directory.
func (c *Cache) Dir() string { return c.dir }

// Close releases the directory. The cache cannot be used afterwards.
func (c *Cache) Close() error { return c.db.Close() }

// init creates the buckets, empties tmp/ and reconciles the index with the
// blob files.
func (c *Cache) init(ctx context.Context) error {
	if err := c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	tmp := filepath.Join(c.dir, tmpDir)
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("remove leftover temporary file: %w", err)
		}
	}
	return c.repair(ctx)
}

// repair drops index entries without a matching file and adopts (or removes)
// files without an index entry.
func (c *Cache) repair(ctx context.Context) error {
	indexed := map[string]blobRecord{}
	if err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlobs).ForEach(func(k, v []byte) error {
			var rec blobRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				rec.Size = -1 // unreadable entry: dropped below
			}
			indexed[string(k)] = rec
			return nil
		})
	}); err != nil {
		return fmt.Errorf("read index: %w", err)
	}

	var drop []string
	for dgst, rec := range indexed {
		d := digest.Digest(dgst)
		if d.Validate() != nil || d.Algorithm() != digest.SHA256 {
			drop = append(drop, dgst)
			continue
		}
		fi, err := os.Stat(c.blobPath(d))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			drop = append(drop, dgst)
		case err != nil:
			return err
		case !fi.Mode().IsRegular() || fi.Size() != rec.Size:
			drop = append(drop, dgst)
		default:
			// Caches written before blobs were owner-only.
			if err := restrictFile(c.blobPath(d), fi, fileMode); err != nil {
				return err
			}
		}
	}

	entries, err := os.ReadDir(c.blobs)
	if err != nil {
		return err
	}
	adopt := map[string]blobRecord{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if _, ok := indexed[d.String()]; ok {
			continue
		}
		path := filepath.Join(c.blobs, e.Name())
		if d.Validate() != nil || !e.Type().IsRegular() {
			continue // not a blob this cache wrote; leave it alone
		}
		size, got, err := hashFile(ctx, path)
		if err != nil {
			return err
		}
		if got != d {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err := restrict(path, fileMode); err != nil {
			return err
		}
		adopt[d.String()] = blobRecord{Size: size, Added: c.now().UTC()}
	}
	if len(drop) == 0 && len(adopt) == 0 {
		return nil
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		for _, k := range drop {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for k, rec := range adopt {
			if err := putJSON(b, []byte(k), rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeLayoutMarkers writes the OCI image layout's oci-layout and an empty
// index.json when they are missing, so layout readers accept the directory.
func writeLayoutMarkers(dir string) error {
	files := map[string]any{
		layoutFile:  ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion},
		layoutIndex: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}},
	}
	for name, v := range files {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			if err := restrict(path, fileMode); err != nil {
				return err
			}
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, tmpDir), path, data); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a synced temporary file.
func writeFileAtomic(tmp, path string, data []byte) error {
	f, err := os.CreateTemp(tmp, "write-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), fileMode); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// restrict takes every permission for group and others off path (a
// directory the cache owns, or one of its files), leaving it at most mode.
// A path that cannot be restricted (another user owns it) is refused with
// fs.ErrPermission: the cache does not run where others can read or
// replace what it keeps.
func restrict(path string, mode os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return restrictFile(path, fi, mode)
}

// restrictFile is restrict with the path's FileInfo already at hand.
func restrictFile(path string, fi os.FileInfo, mode os.FileMode) error {
	if fi.Mode().Perm()&^mode == 0 {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("%s has mode %#o, open to other users, and cannot be restricted to %#o: %w",
			path, fi.Mode().Perm(), mode, err)
	}
	return nil
}

// lookup marks d touched and reads its index entry, as one step for GC.
func (c *Cache) lookup(d digest.Digest) (blobRecord, bool, error) {
	c.gcMu.RLock()
	defer c.gcMu.RUnlock()
	c.touch(d)
	return c.blobRecord(d)
}

// touch records that d was looked up now.
func (c *Cache) touch(d digest.Digest) {
	now := c.now()
	c.touchMu.Lock()
	c.touched[d] = now
	c.touchMu.Unlock()
}

// touchedSince returns the blobs found present at or after t.
func (c *Cache) touchedSince(t time.Time) map[digest.Digest]bool {
	c.touchMu.Lock()
	defer c.touchMu.Unlock()
	out := map[digest.Digest]bool{}
	for d, at := range c.touched {
		if !at.Before(t) {
			out[d] = true
		}
	}
	return out
}

// forgetTouchedBefore drops the records older than t, which GC no longer
// needs.
func (c *Cache) forgetTouchedBefore(t time.Time) {
	c.touchMu.Lock()
	defer c.touchMu.Unlock()
	for d, at := range c.touched {
		if at.Before(t) {
			delete(c.touched, d)
		}
	}
}

// putJSON stores v as JSON under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// getJSON loads key into v; it reports false when the key is absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("index entry %q: %w", key, err)
	}
	return true, nil
}
