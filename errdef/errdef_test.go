package errdef_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
)

// TestIsTerminal holds the table the engine's retry logic depends on: what
// retrying cannot fix stalls a Sync; everything else is retried with backoff.
func TestIsTerminal(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
	}{
		"invalid reference":    {errdef.ErrInvalidReference, true},
		"digest mismatch":      {errdef.ErrDigestMismatch, true},
		"size mismatch":        {errdef.ErrSizeMismatch, true},
		"size exceeds limit":   {errdef.ErrSizeExceedsLimit, true},
		"unsupported media":    {errdef.ErrUnsupportedMediaType, true},
		"unsafe path":          {errdef.ErrUnsafePath, true},
		"invalid manifest":     {errdef.ErrInvalidManifest, true},
		"no signature":         {errdef.ErrNoSignature, true},
		"signature invalid":    {errdef.ErrSignatureInvalid, true},
		"log entry mismatch":   {errdef.ErrLogEntryMismatch, true},
		"image not locked":     {errdef.ErrImageNotLocked, true},
		"policy violation":     {errdef.ErrPolicyViolation, true},
		"invalid key":          {errdef.ErrInvalidKey, true},
		"invalid object":       {errdef.ErrInvalidObject, true},
		"wrapped terminal":     {fmt.Errorf("verify oci://r/x@sha256:00: %w", errdef.ErrNoSignature), true},
		"joined with terminal": {errors.Join(errors.New("dial tcp: refused"), errdef.ErrPolicyViolation), true},
		"not found":            {errdef.ErrNotFound, false},
		"unauthorized":         {errdef.ErrUnauthorized, false},
		"rollback":             {errdef.ErrRollback, false},
		"cache locked":         {errdef.ErrCacheLocked, false},
		"corrupt cache entry":  {errdef.ErrCorrupt, false},
		"deadline":             {context.DeadlineExceeded, false},
		"network":              {errors.New("dial tcp 127.0.0.1:5000: connection refused"), false},
		"nil":                  {nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := errdef.IsTerminal(tc.err); got != tc.want {
				t.Errorf("IsTerminal(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func ExampleIsTerminal() {
	err := fmt.Errorf("verify oci://registry.example/app@sha256:ab…: %w", errdef.ErrNoSignature)
	fmt.Println(errdef.IsTerminal(err), errors.Is(err, errdef.ErrNoSignature))
	// Output: true true
}
