// Package errdef holds sealift's sentinel errors: the one place every stage
// wraps with %w and every caller tests with errors.Is.
//
// Errors come in two families that the engine treats differently:
// terminal ones (a bad signature, a malformed artifact, a policy violation)
// stop and are reported until the spec or the source changes; transient ones
// (a registry that cannot be reached, an API server timeout) are retried with
// backoff. IsTerminal tells them apart.
//
// The package is public because the public packages' error contract names
// its sentinels: a Go user of pull, verify or deploy tests their errors with
// errors.Is(err, errdef.ErrNoSignature) and friends.
package errdef
