//go:build !unix && !windows

package registry

import (
	"errors"
	"os"
)

// tryLock fails where the platform has no advisory file locks: without the
// lock, a server and a collection could delete blobs from under each other.
func tryLock(*os.File, bool) (bool, error) {
	return false, errors.ErrUnsupported
}
