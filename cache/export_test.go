package cache

import (
	"os"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// SetClock replaces the cache's clock; call it before the cache is shared.
func SetClock(c *Cache, now func() time.Time) { c.now = now }

// SetNoSync turns bbolt's fsync off or on: benchmark set-up only, to build
// a large cache quickly. The cache itself never runs without it.
func SetNoSync(c *Cache, on bool) { c.db.NoSync = on }

// LoadUnsynced stores blobs (data[i] under descs[i], unchecked) without
// syncing, in one transaction: benchmark set-up only.
func LoadUnsynced(c *Cache, descs []ocispec.Descriptor, data [][]byte) error {
	for i, d := range descs {
		if err := os.WriteFile(c.blobPath(d.Digest), data[i], 0o600); err != nil {
			return err
		}
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, d := range descs {
			rec := blobRecord{Size: d.Size, MediaType: d.MediaType, Added: c.now().UTC()}
			if err := putJSON(tx.Bucket(bucketBlobs), []byte(d.Digest), rec); err != nil {
				return err
			}
		}
		return nil
	})
}
