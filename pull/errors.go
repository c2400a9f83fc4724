package pull

import (
	"errors"
	"fmt"
	"net/http"

	orascontent "oras.land/oras-go/v2/content"
	oraserrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/sealift-dev/sealift/errdef"
)

// Error is a failed pull operation on one reference or digest.
type Error struct {
	// Op is the operation: "resolve", "fetch" or "extract".
	Op string
	// Ref names the object: a reference string or a digest.
	Ref string
	// Err is the cause; it wraps an errdef sentinel where one applies.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// classify adds the matching errdef sentinel to errors raised by oras-go and
// the verifying reader, so callers can test them with errors.Is and the engine
// can tell terminal failures from transient ones. Errors that already carry a
// sealift sentinel are returned unchanged. A body that ends early is left
// unclassified (transient): it is far more often a dropped connection than a
// lying registry.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{
		errdef.ErrNotFound, errdef.ErrDigestMismatch, errdef.ErrSizeMismatch,
		errdef.ErrSizeExceedsLimit, errdef.ErrUnsupportedMediaType, errdef.ErrUnsafePath,
		errdef.ErrInvalidManifest, errdef.ErrInvalidReference, errdef.ErrUnauthorized,
	} {
		if errors.Is(err, s) {
			return err
		}
	}
	var sentinel error
	var resp *errcode.ErrorResponse
	switch {
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		sentinel = errdef.ErrNotFound
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden),
		errors.Is(err, auth.ErrBasicCredentialNotFound):
		sentinel = errdef.ErrUnauthorized
	case errors.Is(err, oraserrdef.ErrNotFound):
		sentinel = errdef.ErrNotFound
	case errors.As(err, &resp) && hasCode(resp, errcode.ErrorCodeDigestInvalid):
		// A destination registry found an upload's bytes do not match
		// their digest, before the verifying reader's own check reached
		// the caller: the same finding, whichever side saw it first.
		sentinel = errdef.ErrDigestMismatch
	case errors.Is(err, orascontent.ErrMismatchedDigest), errors.Is(err, oraserrdef.ErrInvalidDigest):
		sentinel = errdef.ErrDigestMismatch
	case errors.Is(err, orascontent.ErrTrailingData), errors.Is(err, orascontent.ErrInvalidDescriptorSize):
		sentinel = errdef.ErrSizeMismatch
	case errors.Is(err, oraserrdef.ErrSizeExceedsLimit):
		sentinel = errdef.ErrSizeExceedsLimit
	case errors.Is(err, oraserrdef.ErrInvalidReference):
		sentinel = errdef.ErrInvalidReference
	default:
		return err
	}
	return &classified{sentinel: sentinel, err: err}
}

// hasCode reports whether a registry's error response carries code.
func hasCode(resp *errcode.ErrorResponse, code string) bool {
	for _, e := range resp.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// classified is err, also matching a sealift sentinel; it prints as err.
type classified struct{ sentinel, err error }

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.sentinel, c.err} }
