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
//     to what is there, without duplicates) and reading it back with bounds.
//
// It does not decide trust: which signatures count, thresholds and modes
// belong to package verify. It does not resolve references or talk to a
// registry by itself; callers pass an oras target.
//
// # Limits and caveats
//
// Signing is key based only and writes no transparency-log entry, so cosign
// accepts these signatures with `cosign verify --key K --insecure-ignore-tlog`.
// Signatures use SHA-256 with the key's scheme (ECDSA ASN.1, RSA PKCS #1
// v1.5, pure Ed25519); cosign signs Ed25519 keys with Ed25519ph, so Ed25519
// signatures do not interoperate. Signature manifests are read with the caps
// in internal/limits (manifest bytes, number of layers, payload bytes).
package cosignfmt
