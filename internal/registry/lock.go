package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrRootInUse is returned when a registry root cannot be had: garbage
// collection found a server holding it, or a server found a collection
// running in it.
var ErrRootInUse = errors.New("registry root in use")

// LockFile is the file in a registry root that servers hold shared and
// garbage collection holds exclusively, so the two never run together on
// one root. It sits beside the storage driver's "docker" directory, where
// the driver never looks.
const LockFile = ".sealift-registry.lock"

// rootLock is a held lock on a registry root.
type rootLock struct{ f *os.File }

// lockRoot takes the root's lock without waiting: shared for a server (any
// number of servers may serve one root), exclusive for garbage collection.
//
// A server on a read-only filesystem (a read-only registry served from
// read-only media) locks an existing lock file through a read-only open,
// and serves without a lock when there is none to open: nothing can
// collect garbage on a read-only filesystem.
func lockRoot(root string, exclusive bool) (*rootLock, error) {
	p := filepath.Join(root, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil && !exclusive && errors.Is(err, syscall.EROFS) {
		if f, err = os.Open(p); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("registry root %s: open lock: %w", root, err)
	}
	held, err := tryLock(f, exclusive)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("registry root %s: lock %s: %w", root, p, err)
	}
	if !held {
		_ = f.Close()
		if exclusive {
			return nil, fmt.Errorf("%w: %s is served by a running registry (sealift registry serve); stop it before collecting garbage", ErrRootInUse, root)
		}
		return nil, fmt.Errorf("%w: %s is being garbage-collected (sealift registry gc); serve it once the collection has finished", ErrRootInUse, root)
	}
	return &rootLock{f: f}, nil
}

// release lets the lock go; closing the file drops it.
func (l *rootLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}
