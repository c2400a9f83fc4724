package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
)

// GCOptions configure GC.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
}

// GCBlob is a blob that GC deleted, or would delete in a dry run.
type GCBlob struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// GCLink is a repository's link to a blob that GC removed: the blob is no
// longer reachable through that repository.
type GCLink struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
}

// GCReport says what a collection did (or, in a dry run, would do).
type GCReport struct {
	Root   string `json:"root"`
	DryRun bool   `json:"dryRun"`
	// Deleted are the unreferenced blobs, by digest.
	Deleted []GCBlob `json:"deleted"`
	// BytesFreed is the size of Deleted together.
	BytesFreed int64 `json:"bytesFreed"`
	// Kept counts the blobs some manifest still references.
	Kept int `json:"kept"`
	// Links are the repository links to unreferenced blobs, removed.
	Links []GCLink `json:"links"`
	// Uploads counts unfinished uploads removed.
	Uploads int `json:"uploads"`
}

// storageDir is where the filesystem storage driver keeps a registry's
// content under its root.
const storageDir = "docker/registry/v2"

// GC deletes the blobs of a filesystem registry root that no manifest
// references, with the distribution registry's own mark and sweep: every
// manifest revision of every repository is marked, tagged or not (so
// signature manifests and referrers such as sigstore bundles, which no tag
// names, are kept with everything they reference), and blobs outside the
// marked set are swept, together with the repositories' links to them.
// Unfinished uploads are removed too. It refuses a root that a running
// server holds (ErrRootInUse), and a directory that holds no registry
// content.
func GC(ctx context.Context, root string, opts GCOptions) (*GCReport, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("registry root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("registry root %s is not a directory", root)
	}
	// A root some server has held has its lock file: a running one is
	// reported as such even before it has stored anything. Without the file
	// no server has served the directory, and it must hold content before a
	// lock file is left in it.
	_, lockErr := os.Stat(filepath.Join(root, LockFile))
	var lock *rootLock
	if lockErr == nil {
		if lock, err = lockRoot(root, true); err != nil {
			return nil, err
		}
		defer lock.release()
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(storageDir))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("registry root %s holds no registry content (no %s directory): %w", root, storageDir, err)
		}
		return nil, fmt.Errorf("registry root %s: %w", root, err)
	}
	if lock == nil {
		if lock, err = lockRoot(root, true); err != nil {
			return nil, err
		}
		defer lock.release()
	}
	logrus.SetLevel(logrus.ErrorLevel)

	fsd := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})
	reg, err := storage.NewRegistry(ctx, fsd)
	if err != nil {
		return nil, fmt.Errorf("registry root %s: %w", root, err)
	}
	total := 0
	if err := reg.Blobs().Enumerate(ctx, func(digest.Digest) error { total++; return nil }); err != nil && !isPathNotFound(err) {
		return nil, fmt.Errorf("registry root %s: list blobs: %w", root, err)
	}

	rec := &sweepRecorder{StorageDriver: fsd, dryRun: opts.DryRun}
	// The sweep's deletes go through rec, which records them and, in a dry
	// run, keeps the content; reads go to the registry's own driver.
	if err := storage.MarkAndSweep(ctx, rec, reg, storage.GCOpts{Quiet: true}); err != nil {
		return nil, fmt.Errorf("registry root %s: collect: %w", root, err)
	}
	rep := &GCReport{Root: root, DryRun: opts.DryRun, Deleted: rec.blobs, Links: rec.links}
	for _, b := range rep.Deleted {
		rep.BytesFreed += b.Size
	}
	rep.Kept = total - len(rep.Deleted)
	slices.SortFunc(rep.Deleted, func(a, b GCBlob) int { return cmp.Compare(a.Digest, b.Digest) })
	slices.SortFunc(rep.Links, func(a, b GCLink) int {
		return cmp.Or(cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Digest, b.Digest))
	})

	// The lock is held exclusively: no upload is in progress, so every
	// unfinished one is abandoned.
	uploads, errs := storage.PurgeUploads(ctx, fsd, time.Now(), !opts.DryRun)
	errs = slices.DeleteFunc(errs, isPathNotFound)
	if len(errs) > 0 {
		return rep, fmt.Errorf("registry root %s: remove unfinished uploads: %w", root, errors.Join(errs...))
	}
	rep.Uploads = len(uploads)
	return rep, nil
}

func isPathNotFound(err error) bool {
	var nf driver.PathNotFoundError
	return errors.As(err, &nf)
}

// Paths the sweep deletes, as the filesystem driver names them.
var (
	blobPath      = regexp.MustCompile(`^/docker/registry/v2/blobs/([a-z0-9]+)/[0-9a-f]{2}/([0-9a-f]+)$`)
	layerLinkPath = regexp.MustCompile(`^/docker/registry/v2/repositories/(.+)/_layers/([a-z0-9]+)/([0-9a-f]+)/link$`)
)

// sweepRecorder is the storage driver the sweep deletes through: it records
// each blob and link deleted, deletes them unless in a dry run, and refuses
// to delete anything else, so a collection never removes what it does not
// report.
type sweepRecorder struct {
	driver.StorageDriver
	dryRun bool
	blobs  []GCBlob
	links  []GCLink
}

func (r *sweepRecorder) Delete(ctx context.Context, path string) error {
	switch {
	case blobPath.MatchString(path):
		m := blobPath.FindStringSubmatch(path)
		d := digest.NewDigestFromEncoded(digest.Algorithm(m[1]), m[2])
		b := GCBlob{Digest: d}
		if fi, err := r.Stat(ctx, path+"/data"); err == nil {
			b.Size = fi.Size()
		}
		r.blobs = append(r.blobs, b)
	case layerLinkPath.MatchString(path):
		m := layerLinkPath.FindStringSubmatch(path)
		r.links = append(r.links, GCLink{Repository: m[1], Digest: digest.NewDigestFromEncoded(digest.Algorithm(m[2]), m[3])})
	default:
		return fmt.Errorf("garbage collection tried to delete %s, which is neither a blob nor a blob link; nothing more was deleted", path)
	}
	if r.dryRun {
		return nil
	}
	return r.StorageDriver.Delete(ctx, path)
}
