// Package verify decides whether a manifest digest carries signatures that
// satisfy a policy: it finds the signatures stored for the digest, checks
// each one against the policy's public keys and keyless identities, and
// returns a Verdict.
//
// It owns signature discovery (discover.go), the checks every candidate
// must pass, policies (keys, identities with a pinned trusted root,
// threshold, enforce or audit) and verdicts. Reading and writing cosign's
// formats is left to internal/cosignfmt; resolving tags and fetching content
// for apply is left to package pull; storing verdicts is left to package
// cache, keyed by the digest and Policy.Hash (which covers the keys, the
// identities and the trusted root).
//
// # Discovery
//
// For digest D, candidates are pooled from, in order:
//   - sigstore bundles (v0.3, as cosign v3 writes them) in manifests that
//     refer to D: listed through the referrers API, or, on registries
//     without it, through the referrers tag fallback "sha256-<hex>"; each
//     listed manifest is fetched and must itself name D as its subject;
//   - the legacy signature tag "sha256-<hex>.sig" (simple-signing payloads
//     with the signature in an annotation, as cosign v2 writes them; keyless
//     ones also carry the certificate, its chain and the Rekor bundle in
//     annotations).
//
// Signatures kept in another repository (cosign's COSIGN_REPOSITORY) are
// read by passing that repository as the source: only D's digest is used.
// Discover is the one reader of this: Verify checks what it finds, and
// package mirror copies it, so the two agree on which referrer manifests
// do not hold up (malformed, oversized, missing, or naming another subject:
// a signature that does not count for Verify, left behind by mirror).
//
// # Checks
//
// Every verdict is tied to one digest: a signature counts only when what it
// signs names exactly that digest (the legacy docker-manifest-digest, the
// in-toto statement subject of a bundle, or a bundle's message digest), so
// a signature made for another artifact never counts. Bundles must carry an
// image signature statement (predicate type https://sigstore.dev/cosign/sign/v1);
// attestations signed by the same key do not count. Each key and each
// identity counts once, however many signatures it made.
//
// # Repository binding
//
// A signature over D says nothing, by default, about where D may be
// deployed from: with one key shared across an organisation, anyone who can
// push to team-b/app can copy team-a/app@D and its signature there, and a
// policy for team-b accepts it. Policy.Repositories (opt-in) binds the
// signature's own claim to the repositories listed: the legacy payload's
// critical.identity.docker-reference, or the name of a bundle statement's
// subject for D. The claim is the canonical repository the signer pushed
// to and travels unchanged with mirrors, so list that repository, not
// where the artifact is fetched from. A valid signature whose claim is not
// listed, or that claims nothing (message-signature bundles, and statements
// without subject names, as sealift's own bundles are today), does not
// count; when that leaves the threshold unmet the error wraps
// errdef.ErrPolicyViolation as well as errdef.ErrSignatureInvalid. The
// bound repositories are part of Policy.Hash.
//
// # Cached verdicts
//
// Verify never caches. A caller that keeps verdicts (package cache) must
// reuse one only under the exact Policy.Hash that produced it, and only for
// limits.MaxVerdictAge: older verdicts are checked again whenever the
// registry can be reached (a key revoked by removing it from the policy
// changes the hash at once; a signature deleted from the registry, or a
// trusted root rotated in place, is noticed within that age). Offline, a
// verdict of any age is what stands between the cache and the cluster, and
// is used.
//
// Key-based signatures are checked with the policy's keys (ECDSA P-256/384/521,
// RSA, Ed25519); the key hint in a bundle is ignored. Keyless bundles are
// checked offline with sigstore-go against Policy.TrustedRoot: the
// certificate must chain to one of its certificate authorities, a
// transparency-log entry from one of its logs must prove inclusion (or carry
// a signed entry timestamp), an observed time (log or timestamp authority)
// must fall inside the certificate's validity, an embedded SCT must verify
// when the trusted root lists CT logs, and the certificate's issuer,
// subject and optional claims must match one of Policy.Identities.
//
// Keyless legacy signatures are judged by the same code: the layer's
// certificate, signature and Rekor bundle are turned into a sigstore bundle
// v0.1 (a message signature over the payload, a log entry with its signed
// entry timestamp, and the RFC 3161 timestamp when there is one) and
// checked as above, the signed entry timestamp standing in for the
// inclusion proof. Before that, the logged hashedrekord entry must be for
// exactly this signature, this certificate and the SHA-256 of this
// payload, and its log ID must name a log of the trusted root. The chain
// annotation is read and bounded but never trusted: chains are built from
// the trusted root alone.
//
// # Limits and caveats
//
// At most limits.MaxSignatures signatures are considered for a digest,
// counting every source (more is refused as hostile); referrer listings are
// cut off past that; each payload or bundle is at most
// limits.MaxSignaturePayloadBytes and digest-checked while read; signature
// and referrer manifests are at most limits.MaxManifestBytes with at most
// limits.MaxLayers layers. Keyless legacy signatures are read only with a
// hashedrekord v0.0.1 log entry (what cosign v2 writes; older "rekord"
// entries are refused) and a signed entry timestamp (an inclusion proof is
// not part of the legacy format); certificates without an SCT are accepted
// only when the trusted root lists no CT log, and the same holds for DSSE
// bundles. The claimed repository (docker-reference) in a legacy payload
// is trusted for nothing unless Policy.Repositories binds it. Failures reading from
// the registry that are not about the content itself are returned
// unwrapped so callers can retry them; everything else is terminal.
package verify
