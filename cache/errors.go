package cache

import (
	"fmt"

	"github.com/opencontainers/go-digest"
	oraserrdef "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
)

// BlobError is a failure to read or write one blob: it names the operation
// and the digest and unwraps to the cause (errdef.ErrCorrupt,
// errdef.ErrNotFound, errdef.ErrDigestMismatch, ...).
type BlobError struct {
	Op     string // "fetch", "push", "tag", ...
	Digest digest.Digest
	Err    error
}

func (e *BlobError) Error() string {
	return fmt.Sprintf("cache: %s %s: %v", e.Op, e.Digest, e.Err)
}

func (e *BlobError) Unwrap() error { return e.Err }

// notFound is "not found" for both sealift's and oras-go's sentinels, so
// oras.Copy and sealift callers each recognise a miss.
type notFound struct{ what string }

func (e notFound) Error() string {
	if e.what == "" {
		return "not found"
	}
	return e.what + ": not found"
}

func (e notFound) Is(target error) bool {
	return target == errdef.ErrNotFound || target == oraserrdef.ErrNotFound
}
