package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/sealift-dev/sealift/errdef"
)

// Fetch opens the blob desc names. The reader counts and hashes what it
// returns; when the last byte is read and the content does not match desc,
// that last read fails with errdef.ErrCorrupt and the blob is evicted, so the
// next pull fetches it again. A blob whose file vanished or changed size is
// reported as corrupt (and evicted) at once; one the index does not hold is
// errdef.ErrNotFound.
func (c *Cache) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validDescriptor(desc); err != nil {
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: err}
	}
	rec, ok, err := c.lookup(desc.Digest)
	if err != nil {
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: err}
	}
	if !ok {
		c.opts.Metrics.Miss()
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: notFound{"blob"}}
	}
	f, err := os.Open(c.blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, c.corrupt("fetch", desc.Digest, nil, errors.New("blob file is missing"))
	}
	if err != nil {
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: err}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: err}
	}
	if fi.Size() != rec.Size {
		f.Close()
		return nil, c.corrupt("fetch", desc.Digest, fi, fmt.Errorf("blob file holds %d bytes, %d expected", fi.Size(), rec.Size))
	}
	if desc.Size != rec.Size {
		// The caller's descriptor is wrong, not the cached blob.
		f.Close()
		return nil, &BlobError{Op: "fetch", Digest: desc.Digest, Err: fmt.Errorf("descriptor says %d bytes, the cached blob has %d: %w", desc.Size, rec.Size, errdef.ErrSizeMismatch)}
	}
	c.opts.Metrics.Hit()
	return &verifyingReader{c: c, f: f, fi: fi, desc: desc, verifier: desc.Digest.Verifier()}, nil
}

// Exists reports whether the blob desc names is cached: indexed, and its
// file present with the indexed size. A manifest or index counts as present
// only when everything it reaches is present too, so that copying an
// artifact into the cache again (oras.Copy skips what exists) brings back
// the blobs that were evicted.
func (c *Cache) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := validDescriptor(desc); err != nil {
		return false, &BlobError{Op: "exists", Digest: desc.Digest, Err: err}
	}
	ok, err := c.existsAll(ctx, desc)
	switch {
	case err != nil:
	case ok:
		c.opts.Metrics.Hit()
	default:
		c.opts.Metrics.Miss()
	}
	return ok, err
}

// existsAll is Exists without the metrics.
func (c *Cache) existsAll(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	ok, err := c.exists(desc)
	if err != nil || !ok || !isManifest(desc.MediaType) {
		return ok, err
	}
	return c.complete(ctx, desc)
}

// exists checks one blob, without looking at what it references; the
// lookup marks it for GC.
func (c *Cache) exists(desc ocispec.Descriptor) (bool, error) {
	rec, ok, err := c.lookup(desc.Digest)
	if err != nil || !ok {
		return false, err
	}
	fi, err := os.Stat(c.blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &BlobError{Op: "exists", Digest: desc.Digest, Err: err}
	}
	return fi.Size() == rec.Size && desc.Size == rec.Size, nil
}

// complete reports whether every blob root reaches is present.
func (c *Cache) complete(ctx context.Context, root ocispec.Descriptor) (bool, error) {
	reached, damaged, err := c.walk(ctx, []ocispec.Descriptor{root}, false)
	if err != nil || damaged > 0 {
		return false, err
	}
	for _, d := range reached[1:] {
		if validDescriptor(d) != nil {
			return false, nil
		}
		ok, err := c.exists(d)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Push stores r as the blob desc names. It streams to a temporary file,
// rejects content of another size (errdef.ErrSizeMismatch) or digest
// (errdef.ErrDigestMismatch), syncs the file, renames it into place and only
// then records it in the index. Pushing a blob that is already cached
// succeeds without reading r.
func (c *Cache) Push(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := validDescriptor(desc); err != nil {
		return &BlobError{Op: "push", Digest: desc.Digest, Err: err}
	}
	exists, err := c.existsAll(ctx, desc)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	if err := c.pushFile(ctx, desc, r); err != nil {
		return &BlobError{Op: "push", Digest: desc.Digest, Err: err}
	}
	return nil
}

func (c *Cache) pushFile(ctx context.Context, desc ocispec.Descriptor, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Join(c.dir, tmpDir), "blob-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()

	digester := desc.Digest.Algorithm().Digester()
	// Read one byte past the promised size, to see content that is too long.
	n, err := io.Copy(io.MultiWriter(f, digester.Hash()), ctxReader{ctx, io.LimitReader(r, desc.Size+1)})
	if err != nil {
		return err
	}
	if n != desc.Size {
		return fmt.Errorf("got %d bytes or more, descriptor says %d: %w", n, desc.Size, errdef.ErrSizeMismatch)
	}
	if got := digester.Digest(); got != desc.Digest {
		return fmt.Errorf("content hashes to %s: %w", got, errdef.ErrDigestMismatch)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}

	// Pushes of the same digest write the same content: they need not
	// exclude each other, only eviction and GC.
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := os.Rename(tmp, c.blobPath(desc.Digest)); err != nil {
		return err
	}
	committed = true
	if err := syncDir(c.blobs); err != nil {
		return err
	}
	rec := blobRecord{Size: desc.Size, MediaType: desc.MediaType, Added: c.now().UTC()}
	if err := c.commitTx(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketBlobs), []byte(desc.Digest.String()), rec)
	}); err != nil {
		return err
	}
	c.opts.Metrics.BytesWritten(n)
	return nil
}

// Tag points reference at desc, which must be cached. References are free
// strings; callers sharing a cache between repositories should use full
// references (host/repository:tag). A manifest or index tagged with a full
// reference is listed as an artifact of that repository.
func (c *Cache) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if reference == "" {
		return &BlobError{Op: "tag", Digest: desc.Digest, Err: fmt.Errorf("empty reference: %w", errdef.ErrInvalidReference)}
	}
	exists, err := c.existsAll(ctx, desc)
	if err != nil {
		return err
	}
	if !exists {
		return &BlobError{Op: "tag", Digest: desc.Digest, Err: notFound{"blob"}}
	}
	return c.commitTx(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketTags), []byte(reference), desc); err != nil {
			return err
		}
		if !isManifest(desc.MediaType) {
			return nil
		}
		return upsertArtifact(tx, desc, repositoryOf(reference), false)
	})
}

// Resolve returns the descriptor reference was tagged with. A reference that
// is a digest, or ends in @digest, resolves to the cached blob of that digest.
func (c *Cache) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return ocispec.Descriptor{}, err
	}
	var desc ocispec.Descriptor
	found := false
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket(bucketTags), []byte(reference), &desc)
		return err
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("cache: resolve %s: %w", reference, err)
	}
	if found {
		return desc, nil
	}
	if i := strings.LastIndexByte(reference, '@'); i >= 0 || strings.HasPrefix(reference, digest.SHA256.String()+":") {
		d := digest.Digest(reference[i+1:])
		if d.Validate() == nil {
			rec, ok, err := c.blobRecord(d)
			if err != nil {
				return ocispec.Descriptor{}, fmt.Errorf("cache: resolve %s: %w", reference, err)
			}
			if ok {
				return ocispec.Descriptor{MediaType: rec.MediaType, Digest: d, Size: rec.Size}, nil
			}
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("cache: resolve %s: %w", reference, notFound{"reference"})
}

// blobRecord reads the index entry of d.
func (c *Cache) blobRecord(d digest.Digest) (blobRecord, bool, error) {
	var rec blobRecord
	var ok bool
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketBlobs), []byte(d.String()), &rec)
		return err
	})
	return rec, ok, err
}

// blobPath is where the blob named d lives; d must be a valid sha256 digest.
func (c *Cache) blobPath(d digest.Digest) string {
	return filepath.Join(c.blobs, d.Encoded())
}

// corrupt evicts d and returns the error reporting it.
func (c *Cache) corrupt(op string, d digest.Digest, opened os.FileInfo, cause error) error {
	err := fmt.Errorf("%w: %w", errdef.ErrCorrupt, cause)
	if _, eerr := c.evict(d, opened); eerr != nil {
		err = fmt.Errorf("%w (evicting it failed: %v)", err, eerr)
	}
	return &BlobError{Op: op, Digest: d, Err: err}
}

// evict drops d from the index and removes its file. opened is the file the
// caller found corrupt (nil if it found none); when the file at d's path is
// no longer that one, a push has replaced it and nothing is evicted. It
// reports whether it evicted.
func (c *Cache) evict(d digest.Digest, opened os.FileInfo) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.blobPath(d)
	cur, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing to remove; drop the entry below.
	case err != nil:
		return false, err
	case opened == nil || !os.SameFile(opened, cur):
		return false, nil
	}
	if err := c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlobs).Delete([]byte(d.String()))
	}); err != nil {
		return false, err
	}
	c.opts.Metrics.Evicted()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, err
	}
	return true, nil
}

// validDescriptor rejects descriptors the cache cannot store.
func validDescriptor(desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errdef.ErrInvalidReference, err)
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest algorithm %s is not supported, only sha256: %w", desc.Digest.Algorithm(), errdef.ErrInvalidReference)
	}
	if desc.Size < 0 {
		return fmt.Errorf("negative size %d: %w", desc.Size, errdef.ErrSizeMismatch)
	}
	return nil
}

// verifyingReader streams a blob file, checking size and digest as it goes.
type verifyingReader struct {
	c        *Cache
	f        *os.File
	fi       os.FileInfo
	desc     ocispec.Descriptor
	verifier digest.Verifier
	n        int64
	err      error // sticky: io.EOF once verified, or the failure
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.read(p)
	if n > 0 {
		r.c.opts.Metrics.BytesRead(int64(n))
	}
	return n, err
}

func (r *verifyingReader) read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	rem := r.desc.Size - r.n
	if rem == 0 {
		return 0, r.finish()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > rem {
		p = p[:rem]
	}
	m, err := r.f.Read(p)
	r.verifier.Write(p[:m])
	r.n += int64(m)
	switch {
	case errors.Is(err, io.EOF) && r.n < r.desc.Size:
		r.err = r.c.corrupt("fetch", r.desc.Digest, r.fi, fmt.Errorf("blob file ended after %d of %d bytes", r.n, r.desc.Size))
		return m, r.err
	case err != nil && !errors.Is(err, io.EOF):
		return m, err
	}
	if r.n < r.desc.Size {
		return m, nil
	}
	// Last chunk: check before handing it out, and withhold it on a mismatch.
	if err := r.finish(); err != io.EOF {
		return 0, err
	}
	return m, nil
}

// finish checks that the file ends here and that the content hashes to the
// digest; it returns io.EOF when it does.
func (r *verifyingReader) finish() error {
	var one [1]byte
	k, err := r.f.Read(one[:])
	switch {
	case k > 0:
		r.err = r.c.corrupt("fetch", r.desc.Digest, r.fi, errors.New("blob file holds more bytes than its descriptor"))
	case err != nil && !errors.Is(err, io.EOF):
		return err
	case !r.verifier.Verified():
		r.err = r.c.corrupt("fetch", r.desc.Digest, r.fi, errors.New("blob does not hash to its digest"))
	default:
		r.err = io.EOF
	}
	return r.err
}

func (r *verifyingReader) Close() error { return r.f.Close() }

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// hashFile returns the size and sha256 digest of the file at path.
func hashFile(ctx context.Context, path string) (int64, digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	d := digest.SHA256.Digester()
	n, err := io.Copy(d.Hash(), ctxReader{ctx, f})
	if err != nil {
		return 0, "", err
	}
	return n, d.Digest(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// isManifest reports whether mediaType names a manifest or an index.
func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// repositoryOf returns the repository part of a full reference
// ("host/repo:tag", "oci://host/repo@sha256:...") or "" for a bare tag.
func repositoryOf(reference string) string {
	ref := strings.TrimPrefix(reference, "oci://")
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash < 0 {
		return ""
	}
	if colon := strings.LastIndexByte(ref, ':'); colon > slash {
		ref = ref[:colon]
	}
	return ref
}
