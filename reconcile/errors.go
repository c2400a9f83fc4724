package reconcile

import (
	"errors"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// ReasonError is an error of the pipeline with the condition reason it is
// reported under (sealiftv1.Reason*): the reason travels with the error
// through every %w wrap, so status, events and metrics read the same one.
// Whether the failure is terminal is still decided by errdef.IsTerminal on
// Err; the reason only names it.
type ReasonError struct {
	Reason string
	Err    error
}

// Error is Err's message alone: the reason is a field, not part of the text.
func (e *ReasonError) Error() string { return e.Err.Error() }

func (e *ReasonError) Unwrap() error { return e.Err }

// WithReason returns err carrying reason, or nil when err is nil.
func WithReason(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &ReasonError{Reason: reason, Err: err}
}

// FailureReason is the reason of an error that carries none: something in
// the walk up to the apply failed without saying which stage it was.
const FailureReason = sealiftv1.ReasonApplyFailed

// ReasonOf is the reason err is reported under: sealiftv1.ReasonApplied for
// nil, the outermost ReasonError's reason in err's chain, else FailureReason.
func ReasonOf(err error) string {
	if err == nil {
		return sealiftv1.ReasonApplied
	}
	var re *ReasonError
	if errors.As(err, &re) && re.Reason != "" {
		return re.Reason
	}
	return FailureReason
}
