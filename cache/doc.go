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
// The package owns that directory and nothing else. It does no network I/O,
// does not decide trust (verdicts are recorded as the verify stage reports
// them) and does not parse artifact content beyond walking manifests and
// indexes to find the blobs they reference.
//
// # Durability
//
// A blob is written to tmp/, checked, fsynced and renamed into place before
// the index records it; bbolt is never run with NoSync; per-sync state
// changes in one write transaction per reconcile (Commit). After a crash,
// Open empties tmp/, drops index entries whose blob file is missing or has
// the wrong size, and adopts blob files the index does not know once they
// re-hash to their names (and removes those that do not). Check re-hashes
// everything.
//
// # Limits and caveats
//
// One process owns a cache directory at a time: bbolt's file lock is taken on
// Open, and a second Open (from any process, or the same one) waits
// Options.OpenTimeout and then fails with errdef.ErrCacheLocked. Only sha256
// digests are stored, and blob sizes are not capped here: the pull stage
// bounds what it fetches. Fetch's readers check the digest when the last byte is
// read, and withhold that last read on a mismatch: consumers must read to
// io.EOF to benefit from the check. GC keeps only what the syncs' last-applied
// and history revisions reach, plus blobs written within
// Options.GCGracePeriod (so a pull that has not been committed yet keeps its
// blobs); tags, artifact records and verdicts of removed manifests go with
// them. Content that was already cached and unreferenced when a pull found it
// is not protected by the grace period.
package cache
