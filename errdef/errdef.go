package errdef

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the reference, digest, object or cache entry does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidReference: a reference string cannot be parsed.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrDigestMismatch: content does not hash to the digest that names it.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: content is not the size its descriptor promises.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrSizeExceedsLimit: content is larger than a configured limit.
	ErrSizeExceedsLimit = errors.New("size exceeds limit")
	// ErrUnsupportedMediaType: the artifact holds no content sealift can read.
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrUnsafePath: an archive entry would escape its root or is not a
	// regular file or directory.
	ErrUnsafePath = errors.New("unsafe archive entry")
	// ErrInvalidManifest: a manifest, index or document cannot be parsed.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrNoSignature: no signature was found for the digest.
	ErrNoSignature = errors.New("no signature")
	// ErrSignatureInvalid: signatures exist but none satisfies the policy.
	ErrSignatureInvalid = errors.New("signature invalid")
	// ErrPolicyViolation: the verification policy is not met.
	ErrPolicyViolation = errors.New("policy violation")
	// ErrInvalidKey: a key cannot be parsed or decrypted.
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalidObject: a rendered Kubernetes object is malformed or duplicated.
	ErrInvalidObject = errors.New("invalid object")
	// ErrCacheLocked: another process owns the cache directory.
	ErrCacheLocked = errors.New("cache is locked by another process")
	// ErrCorrupt: cached content failed its integrity check.
	ErrCorrupt = errors.New("corrupt content")
	// ErrUnauthorized: the registry refused the credentials (401) or the
	// access (403). Not terminal: fixing a secret or a grant needs no change
	// to the spec or the source.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRollback: resolving a tag or semver range would move a sync to an
	// older revision than the one it last applied, or a mirror alone would
	// move a tag. Not terminal: the canonical registry answering again, or a
	// lagging mirror catching up, clears it; pinning a digest is the explicit
	// way to roll back.
	ErrRollback = errors.New("refused to move back to an older revision")
	// ErrLogEntryMismatch: a transparency-log entry is about another
	// signature, certificate or payload than the one it is attached to. It
	// wraps ErrSignatureInvalid, so it is terminal.
	ErrLogEntryMismatch = fmt.Errorf("%w: transparency-log entry does not match the signature", ErrSignatureInvalid)
	// ErrImageNotLocked: a rendered object runs an image the artifact's
	// images lock does not pin, so nobody signed for it. It wraps
	// ErrPolicyViolation, so it is terminal.
	ErrImageNotLocked = fmt.Errorf("%w: image not in the artifact's images lock", ErrPolicyViolation)
)

// terminal lists the sentinels that retrying cannot fix.
var terminal = []error{
	ErrInvalidReference, ErrDigestMismatch, ErrSizeMismatch, ErrSizeExceedsLimit,
	ErrUnsupportedMediaType, ErrUnsafePath, ErrInvalidManifest, ErrNoSignature,
	ErrSignatureInvalid, ErrPolicyViolation, ErrInvalidKey, ErrInvalidObject,
}

// IsTerminal reports whether err is a failure that retrying cannot fix: it
// should be reported and left alone until the spec or the source changes.
func IsTerminal(err error) bool {
	for _, t := range terminal {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
