// Package verify decides whether a manifest digest carries signatures that
// satisfy a policy: it finds the signatures stored for the digest, checks
// each one against the policy's public keys, and returns a Verdict.
//
// It owns signature discovery (discover.go: today the legacy
// "sha256-<hex>.sig" tag in the same repository; the referrers API and
// sigstore bundles slot in there as further sources of candidates), the
// checks every candidate must pass, policies (keys, threshold, enforce or
// audit) and verdicts. Reading and writing cosign's formats is left to
// internal/cosignfmt; resolving tags and fetching content for apply is left
// to package pull; storing verdicts is left to package cache, keyed by the
// digest and Policy.Hash.
//
// Every verdict is tied to one digest: a signature counts only when its
// payload names exactly that digest, so a signature copied from another
// artifact never counts. Each key counts once, however many signatures it
// made.
//
// # Limits and caveats
//
// At most limits.MaxSignatures signature layers are considered for a digest
// (more is refused as hostile), each payload is at most
// limits.MaxSignaturePayloadBytes and digest-checked while read, and
// signature manifests are at most limits.MaxManifestBytes. Only key-based
// signatures are checked for now: keyless certificates, transparency-log
// proofs and bundles are not read, and the claimed repository
// (docker-reference) in a payload is not compared, as cosign does not by
// default. Failures reading from the registry that are not about the
// content itself are returned unwrapped so callers can retry them.
package verify
