package reconcile_test

import (
	"errors"
	"fmt"
	"testing"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/reconcile"
)

func TestReasonOf(t *testing.T) {
	base := fmt.Errorf("resolve r.example/app:v1: %w", errdef.ErrNotFound)
	tests := map[string]struct {
		err      error
		reason   string
		terminal bool
		msg      string
	}{
		"nil is applied": {
			err: nil, reason: sealiftv1.ReasonApplied,
		},
		"no reason carried": {
			err: base, reason: reconcile.FailureReason, terminal: errdef.IsTerminal(base), msg: base.Error(),
		},
		"carried": {
			err:    reconcile.WithReason(sealiftv1.ReasonSourceUnavailable, base),
			reason: sealiftv1.ReasonSourceUnavailable, terminal: errdef.IsTerminal(base), msg: base.Error(),
		},
		"through %w": {
			err:    fmt.Errorf("sync ns/app: %w", reconcile.WithReason(sealiftv1.ReasonVerificationFailed, errdef.ErrNoSignature)),
			reason: sealiftv1.ReasonVerificationFailed, terminal: true, msg: "sync ns/app: " + errdef.ErrNoSignature.Error(),
		},
		"through errors.Join": {
			err:    errors.Join(reconcile.WithReason(sealiftv1.ReasonApplyFailed, errors.New("apply failed")), errors.New("write inventory")),
			reason: sealiftv1.ReasonApplyFailed, msg: "apply failed\nwrite inventory",
		},
		"outermost wins": {
			err:    reconcile.WithReason(sealiftv1.ReasonRollbackRefused, fmt.Errorf("mirror: %w", reconcile.WithReason(sealiftv1.ReasonSourceUnavailable, errdef.ErrRollback))),
			reason: sealiftv1.ReasonRollbackRefused, terminal: false, msg: "mirror: " + errdef.ErrRollback.Error(),
		},
		"empty reason is the default": {
			err: reconcile.WithReason("", base), reason: reconcile.FailureReason, terminal: errdef.IsTerminal(base), msg: base.Error(),
		},
		"through SourceUnavailableError": {
			err:    &reconcile.SourceUnavailableError{Sync: "ns/app", Digest: "sha256:00", Err: reconcile.WithReason(sealiftv1.ReasonSourceUnavailable, base)},
			reason: sealiftv1.ReasonSourceUnavailable, terminal: errdef.IsTerminal(base),
			msg: "sync ns/app: source unavailable, re-applied the last verified revision sha256:00 from the cache: " + base.Error(),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := reconcile.ReasonOf(tt.err); got != tt.reason {
				t.Errorf("reconcile.ReasonOf = %q, want %q", got, tt.reason)
			}
			if tt.err == nil {
				return
			}
			// The reason names the failure; it changes neither the message
			// nor the terminal/transient split.
			if got := tt.err.Error(); got != tt.msg {
				t.Errorf("Error() = %q, want %q", got, tt.msg)
			}
			if got := errdef.IsTerminal(tt.err); got != tt.terminal {
				t.Errorf("IsTerminal = %v, want %v", got, tt.terminal)
			}
		})
	}
}

func TestWithReason(t *testing.T) {
	if err := reconcile.WithReason(sealiftv1.ReasonApplyFailed, nil); err != nil {
		t.Fatalf("reconcile.WithReason(reason, nil) = %v, want nil", err)
	}
	err := fmt.Errorf("fetch: %w", reconcile.WithReason(sealiftv1.ReasonArtifactFailed, errdef.ErrDigestMismatch))
	var re *reconcile.ReasonError
	if !errors.As(err, &re) {
		t.Fatalf("errors.As(%v, *reconcile.ReasonError) = false", err)
	}
	if re.Reason != sealiftv1.ReasonArtifactFailed || !errors.Is(re.Err, errdef.ErrDigestMismatch) {
		t.Errorf("reconcile.ReasonError = %+v, want reason %s wrapping ErrDigestMismatch", re, sealiftv1.ReasonArtifactFailed)
	}
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Errorf("errors.Is(%v, ErrDigestMismatch) = false through reconcile.ReasonError", err)
	}
}
