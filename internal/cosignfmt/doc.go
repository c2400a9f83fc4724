// Package cosignfmt reads and writes the formats cosign uses, so that keys
// and signatures made by sealift work with cosign and the other way round.
//
// It owns:
//   - key pairs: ECDSA P-256 private keys encrypted with scrypt and
//     secretbox in an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block (the legacy
//     "ENCRYPTED COSIGN PRIVATE KEY" block is read too), public keys as PKIX
//     "PUBLIC KEY" PEM, and key fingerprints;
//   - the simple-signing payload that names the signed manifest digest;
//   - the legacy signature manifest cosign stores under the tag
//     "sha256-<hex>.sig" next to the signed manifest: writing it (appending
//     to what is there, without duplicates) and reading it back with bounds;
//   - the material cosign v2 adds to a legacy signature layer when it signs
//     keyless (certificate, chain, Rekor bundle, RFC 3161 timestamp):
//     parsing it with bounds, checking that the logged hashedrekord entry is
//     for that very signature, and expressing the whole as a sigstore bundle
//     v0.1 so it can be verified like any other bundle;
//   - sigstore bundles v0.3 (the protobuf-specs JSON form) as cosign v3
//     writes them for key-based signing: a DSSE envelope holding an in-toto
//     statement with predicate type https://sigstore.dev/cosign/sign/v1
//     whose subject is the signed digest; parsing bundles (message
//     signatures and certificate-based ones too) and checking them with a
//     key;
//   - the OCI referrer manifest that carries a bundle (artifact type
//     BundleMediaType, subject the signed manifest), listing referrers
//     (the referrers API or the "sha256-<hex>" referrers tag fallback) and
//     parsing referrers indexes, all with bounds.
//
// It does not decide trust: which signatures count, thresholds and modes
// belong to package verify. It does not resolve references or talk to a
// registry by itself; callers pass an oras target.
//
// # Limits and caveats
//
// Signing is key based only and writes no transparency-log entry, so cosign
// accepts these signatures with `cosign verify --key K --insecure-ignore-tlog=true`
// (cosign v2 reads bundles only with --new-bundle-format and a --trusted-root,
// which may list no authority). Legacy signatures use SHA-256 with the key's
// scheme (ECDSA ASN.1, RSA PKCS #1 v1.5, pure Ed25519); cosign signs Ed25519
// keys with Ed25519ph there, so Ed25519 legacy signatures do not
// interoperate. Bundles use the hash sigstore pairs with the key (SHA-384
// for P-384, SHA-512 for P-521, SHA-256 otherwise; pure Ed25519). Message
// signature bundles are checked for SHA-256 digests only. Checking
// certificates, transparency-log proofs and identities is left to package
// verify. Manifests, indexes and bundles are read with the caps in
// internal/limits (manifest bytes, number of layers, payload bytes,
// signatures); each keyless annotation is held to the payload cap and a
// chain to ten certificates. Of legacy keyless log entries only
// hashedrekord v0.0.1, the kind cosign v2 writes, is read.
package cosignfmt
