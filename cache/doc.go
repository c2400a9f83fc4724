// Package cache is sealift's local store of pulled artifacts: a
// content-addressed blob store laid out as an OCI image layout, indexed by a
// bbolt database that also keeps verdicts, the last-applied revision of each
// sync, a short history of previous revisions for rollback, and inventories.
//
// A *Cache is an oras-go Target, so oras.Copy can fill it from a registry and
// read from it again. Every read re-checks size and digest while it streams;
// content that fails the check is evicted so that the next pull fetches it
// again, and is never handed out whole.
//
// On disk, under the cache directory:
//
//	oci-layout, index.json   the OCI image layout markers (index.json is not maintained)
//	blobs/sha256/<hex>       blob files, named by digest
//	tmp/                     blobs being written; emptied on Open
//	index.db                 the bbolt index (metadata only, never blob bytes)
//
// Everything in it is its owner's alone: directories 0700, files 0600,
// whatever the umask. Cached manifests hold what the artifacts hold,
// Secrets included, and index.db's verdicts decide what is applied; no
// other local user may read or replace them. Open tightens the cache
// directory, its subdirectories, index.db, the layout markers and every
// blob file to those modes when it finds them looser (a pre-created or
// shared directory, or a cache written before this rule), and refuses, with
// fs.ErrPermission, a directory or file it cannot tighten (one another
// user owns): give the cache a directory of its own (e.g. a subdirectory of
// a volume), not a shared one such as a home directory, which it would
// tighten too.
//
// The package owns that directory and nothing else. It does no network I/O,
// does not decide trust (verdicts are recorded as the verify stage reports
// them) and does not parse artifact content beyond walking manifests and
// indexes to find the blobs they reference.
//
// # Durability
//
// A blob is written to tmp/, checked, fsynced and renamed into place before
// the index records it; bbolt is never run with NoSync; per-sync state
// changes in one write transaction per reconcile (Commit), which records a
// revision only when every blob it reaches is indexed. After a crash,
// Open empties tmp/, drops index entries whose blob file is missing or has
// the wrong size, and adopts blob files the index does not know once they
// re-hash to their names (and removes those that do not). Check re-hashes
// everything. A crash test kills a writer process with SIGKILL at random
// points and checks that the cache then opens, checks clean and keeps every
// revision whose Commit returned (hack/cache-crash.sh runs it many times).
//
// # Batched commits
//
// Each Commit is one bbolt transaction, and bbolt makes a transaction
// durable with an fsync of the index file: a few milliseconds, and the
// whole cost of a Commit. When many syncs reconcile at once (a controller
// start, a shared repository that moved), their Commits would queue on
// bbolt's single writer and pay one fsync each. Commit therefore goes
// through bbolt's DB.Batch: Commits that arrive within
// Options.CommitBatchDelay share one transaction and one fsync, and each
// still lands whole or not at all (a failing one is retried alone and only
// it fails). The price is that delay on a lone Commit, small next to the
// apply before it; a negative delay turns batching off. The index records of
// pushed blobs, tags and verdicts go through the same batch, so a controller
// fetching many artifacts at once pays one index fsync per batch rather than
// one per blob.
//
// # Pins, retention and GC
//
// Each sync keeps its last-applied revision and Options.Retention previous
// ones. Pin keeps any cached blob (usually a manifest) and what it reaches
// beyond that until Unpin. GC removes what neither reaches. It never races a
// write: blobs written within Options.GCGracePeriod stay (a pull not yet
// committed), and so do blobs an Exists or Fetch found present within it (a
// pull that skipped content already cached, although nothing referenced it).
// GC reads those marks and commits its removals while lookups wait (for one
// index fsync), so no lookup finds present a blob GC is removing. Commit runs in a write transaction as GC does, so a
// revision is either committed before GC (and kept) or finds its blobs gone
// and fails with errdef.ErrNotFound, and the pull runs again.
//
// # Verdicts
//
// A verdict is found only under the exact policy hash that produced it
// (verify.Policy.Hash: keys, identities, trusted root, threshold, mode,
// bound repositories), so a changed policy is checked afresh. Verdicts
// also age: Verdict with MaxAge passes over one older than the given age
// (or dated in the future), and the engine asks for limits.MaxVerdictAge
// whenever the registry answered, so a signature removed from the registry
// stops counting within that age. Offline the engine asks for any age: the
// last verified revision must stay appliable through an outage. A reused
// verdict keeps the time it was made when it is recorded again.
//
// # Metrics
//
// Options.Metrics receives hits and misses (Fetch and Exists), bytes read
// and written, and evictions, for the engine to export.
//
// # Limits and caveats
//
// One process owns a cache directory at a time: bbolt's file lock is taken on
// Open, and a second Open (from any process, or the same one) waits
// Options.OpenTimeout and then fails with errdef.ErrCacheLocked. Only sha256
// digests are stored, and blob sizes are not capped here: the pull stage
// bounds what it fetches. Fetch's readers check the digest when the last byte is
// read, and withhold that last read on a mismatch: consumers must read to
// io.EOF to benefit from the check. GC drops the tags, artifact records and
// verdicts of the content it removes. Open re-checks the size of
// every indexed blob (BenchmarkOpen: about 0.25 s for 10 000 artifacts);
// GC's protection of content found present lives in memory, which is enough
// because one process owns the directory. A negative GCGracePeriod (no
// grace) is safe only when no pull can run, as in the CLI.
package cache
