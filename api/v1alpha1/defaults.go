package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultNamespace is the namespace of a Sync that names none, as kubectl
// would place it.
const DefaultNamespace = "default"

// DefaultTimeout bounds one reconcile when the Sync sets none: long enough
// for a large apply, short enough that a stuck registry does not hold a worker.
const DefaultTimeout = 5 * time.Minute

// Default fills in what a Sync leaves unset: the namespace, the reconcile
// timeout, the verify mode and the drift mode. It is idempotent and is the
// one place these defaults live; Parse applies it, and so does every
// reconcile of a Sync built in code.
func (s *Sync) Default() {
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	if s.Spec.Timeout == nil || s.Spec.Timeout.Duration <= 0 {
		s.Spec.Timeout = &metav1.Duration{Duration: DefaultTimeout}
	}
	if s.Spec.Verify.Mode == "" {
		s.Spec.Verify.Mode = VerifyEnforce
	}
	if s.Spec.Drift == "" {
		s.Spec.Drift = DriftCorrect
	}
}

// Key returns namespace/name, the Sync's identity in the cache.
func (s *Sync) Key() string {
	ns := s.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return ns + "/" + s.Name
}
