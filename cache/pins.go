package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Pin keeps one blob (an artifact's manifest, usually) and everything it
// reaches through GC, whether or not a sync's retention still holds it.
type Pin struct {
	Descriptor ocispec.Descriptor `json:"descriptor"`
	Time       time.Time          `json:"time"`
}

// Pin keeps dgst, which must be cached (errdef.ErrNotFound otherwise), and
// everything it reaches through GC until Unpin. A pinned manifest or index
// is listed as an artifact. Pinning again refreshes the pin's time.
func (c *Cache) Pin(ctx context.Context, dgst digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validDescriptor(ocispec.Descriptor{Digest: dgst}); err != nil {
		return &BlobError{Op: "pin", Digest: dgst, Err: err}
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		var rec blobRecord
		ok, err := getJSON(tx.Bucket(bucketBlobs), []byte(dgst), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return notFound{"blob"}
		}
		desc := ocispec.Descriptor{MediaType: rec.MediaType, Digest: dgst, Size: rec.Size}
		if err := putJSON(tx.Bucket(bucketPins), []byte(dgst), Pin{Descriptor: desc, Time: c.now().UTC()}); err != nil {
			return err
		}
		if !isManifest(rec.MediaType) || tx.Bucket(bucketArtifacts).Get([]byte(dgst)) != nil {
			return nil
		}
		return upsertArtifact(tx, desc, "", false)
	})
	if err != nil {
		return &BlobError{Op: "pin", Digest: dgst, Err: err}
	}
	return nil
}

// Unpin releases a pin; the next GC removes the content unless a sync still
// holds it. Unpinning what is not pinned is errdef.ErrNotFound.
func (c *Cache) Unpin(ctx context.Context, dgst digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPins)
		if b.Get([]byte(dgst)) == nil {
			return notFound{"pin"}
		}
		return b.Delete([]byte(dgst))
	})
	if err != nil {
		return &BlobError{Op: "unpin", Digest: dgst, Err: err}
	}
	return nil
}

// Pins returns the pins, ordered by digest.
func (c *Cache) Pins(ctx context.Context) ([]Pin, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pins := []Pin{}
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPins).ForEach(func(k, v []byte) error {
			var p Pin
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("index entry %q: %w", k, err)
			}
			pins = append(pins, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: pins: %w", err)
	}
	return pins, nil
}
