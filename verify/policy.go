package verify

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

// Mode says what a failed verification does.
type Mode string

const (
	// Enforce makes a digest without enough valid signatures an error:
	// nothing is applied. It is the default.
	Enforce Mode = "enforce"
	// Audit reports the verdict but lets the caller go on.
	Audit Mode = "audit"
)

// defaultThreshold is the number of distinct keys that must sign when a
// policy does not say: one valid signature is the least that proves anything.
const defaultThreshold = 1

// Policy is what a digest's signatures must satisfy. The zero Mode means
// Enforce and the zero Threshold means 1.
type Policy struct {
	Mode Mode
	// Threshold is how many distinct keys must have signed the digest.
	Threshold int
	// Keys are the trusted public keys; the same key listed twice counts once.
	Keys []crypto.PublicKey
	// Identities are the trusted keyless signers. Each counts once toward
	// Threshold, like a key.
	Identities []Identity
	// TrustedRoot is the pinned trusted_root.json (as `cosign trusted-root
	// create` writes it) that keyless signatures are checked against,
	// offline. Required with Identities.
	TrustedRoot []byte
	// Repositories, when set, binds signatures to repositories: a
	// signature counts only when the repository it claims the artifact
	// lives in (host/path, e.g. "registry.example/team-a/app") is one of
	// these. The claim is the legacy payload's
	// critical.identity.docker-reference, or the name of the bundle's
	// in-toto subject that names the digest; a signature that makes no
	// claim does not count. List the canonical repositories the signer
	// pushes to, not mirrors: a mirror carries the signer's claim
	// unchanged. Empty means any repository (the default), which lets
	// anyone who can copy a signed digest and its signature into another
	// repository signed by the same key have it verify there.
	Repositories []string
}

// policyKey is a trusted key with its fingerprint.
type policyKey struct {
	fingerprint string
	pub         crypto.PublicKey
}

// normalized is a checked Policy with defaults applied and duplicate keys
// removed.
type normalized struct {
	mode       Mode
	threshold  int
	keys       []policyKey
	identities []policyIdentity
	keyless    *keylessVerifier
	// repositories are the repositories a signature may claim; empty
	// means any.
	repositories map[string]bool
}

// signers is how many distinct keys and identities the policy trusts.
func (n normalized) signers() int { return len(n.keys) + len(n.identities) }

// signerName names signer i: a key fingerprint, then identities.
func (n normalized) signerName(i int) string {
	if i < len(n.keys) {
		return n.keys[i].fingerprint
	}
	return n.identities[i-len(n.keys)].name
}

// settled is a Policy with its defaults applied and duplicates removed,
// before any check: what both normalize and Hash start from, so the two
// never disagree about which policies are the same.
type settled struct {
	mode      Mode
	threshold int
	// keys are unique by fingerprint, in the order first given; a key of
	// an unsupported type has an empty fingerprint.
	keys []policyKey
	// keyIndex is each key's position in Policy.Keys, for messages.
	keyIndex []int
	// identities are unique by Identity.key, in the order first given.
	identities []Identity
	// identityIndex is each identity's position in Policy.Identities.
	identityIndex []int
	// repositories are the bound repositories, normalized, unique and
	// sorted.
	repositories []string
}

// settle applies defaults (Enforce, defaultThreshold) and removes keys and
// identities listed more than once.
func (p Policy) settle() settled {
	s := settled{mode: p.Mode, threshold: p.Threshold}
	if s.mode == "" {
		s.mode = Enforce
	}
	if s.threshold == 0 {
		s.threshold = defaultThreshold
	}
	seen := map[string]bool{}
	for i, k := range p.Keys {
		fp := cosignfmt.Fingerprint(k)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		s.keys = append(s.keys, policyKey{fingerprint: fp, pub: k})
		s.keyIndex = append(s.keyIndex, i)
	}
	seenID := map[string]bool{}
	for i, id := range p.Identities {
		if seenID[id.key()] {
			continue
		}
		seenID[id.key()] = true
		s.identities = append(s.identities, id)
		s.identityIndex = append(s.identityIndex, i)
	}
	for _, r := range p.Repositories {
		s.repositories = append(s.repositories, normalizeRepository(r))
	}
	slices.Sort(s.repositories)
	s.repositories = slices.Compact(s.repositories)
	return s
}

// normalizeRepository is a repository as claims are compared: without an
// "oci://" scheme, a tag or a digest, and with a lower-case host.
func normalizeRepository(r string) string {
	r = strings.TrimPrefix(strings.TrimSpace(r), "oci://")
	if i := strings.IndexByte(r, '@'); i >= 0 {
		r = r[:i]
	}
	if i, j := strings.LastIndexByte(r, ':'), strings.LastIndexByte(r, '/'); i > j && j >= 0 {
		r = r[:i]
	}
	host, path, ok := strings.Cut(r, "/")
	if !ok {
		return r
	}
	return strings.ToLower(host) + "/" + path
}

// normalize applies defaults and checks that the policy can be satisfied at
// all. Errors wrap errdef.ErrPolicyViolation or errdef.ErrInvalidKey.
func (p Policy) normalize() (normalized, error) {
	s := p.settle()
	n := normalized{mode: s.mode, threshold: s.threshold}
	if n.mode != Enforce && n.mode != Audit {
		return n, fmt.Errorf("%w: invalid policy: unknown mode %q (want %q or %q)", errdef.ErrPolicyViolation, p.Mode, Enforce, Audit)
	}
	if n.threshold < 0 {
		return n, fmt.Errorf("%w: invalid policy: negative threshold %d", errdef.ErrPolicyViolation, p.Threshold)
	}
	for i, k := range s.keys {
		if k.fingerprint == "" {
			return n, fmt.Errorf("%w: policy key %d: unsupported public key type %T", errdef.ErrInvalidKey, s.keyIndex[i], k.pub)
		}
	}
	n.keys = s.keys
	for i, r := range s.repositories {
		if host, path, ok := strings.Cut(r, "/"); !ok || host == "" || path == "" {
			return n, fmt.Errorf("%w: invalid policy: repository %q is not host/path", errdef.ErrPolicyViolation, s.repositories[i])
		}
		if n.repositories == nil {
			n.repositories = map[string]bool{}
		}
		n.repositories[r] = true
	}
	for i, id := range s.identities {
		m, err := id.compile()
		if err != nil {
			return n, fmt.Errorf("%w: invalid policy: identity %d: %v", errdef.ErrPolicyViolation, s.identityIndex[i], err)
		}
		n.identities = append(n.identities, policyIdentity{name: id.String(), matcher: m})
	}
	if len(n.identities) > 0 {
		if len(p.TrustedRoot) == 0 {
			return n, fmt.Errorf("%w: invalid policy: identities need a trusted root", errdef.ErrPolicyViolation)
		}
		kv, err := newKeylessVerifier(p.TrustedRoot)
		if err != nil {
			return n, err
		}
		n.keyless = kv
	}
	if n.signers() == 0 {
		return n, fmt.Errorf("%w: invalid policy: no public keys or identities", errdef.ErrPolicyViolation)
	}
	if n.threshold > n.signers() {
		return n, fmt.Errorf("%w: invalid policy: threshold %d is more than the %d distinct keys and identities given",
			errdef.ErrPolicyViolation, n.threshold, n.signers())
	}
	return n, nil
}

// Hash returns a stable name for the policy, "sha256:<hex>", over its mode,
// threshold, the sorted fingerprints of its keys, its sorted identities,
// its sorted bound repositories and the digest of its trusted root, with
// defaults applied:
// two policies that accept exactly the same signatures hash the same, so a
// cached verdict can be reused only under the policy that produced it.
func (p Policy) Hash() string {
	s := p.settle()
	fps := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		fps = append(fps, k.fingerprint)
	}
	slices.Sort(fps)
	ids := make([]string, 0, len(s.identities))
	for _, id := range s.identities {
		ids = append(ids, id.key())
	}
	slices.Sort(ids)

	var b strings.Builder
	b.WriteString("sealift-policy/v1\nmode=")
	b.WriteString(string(s.mode))
	b.WriteString("\nthreshold=")
	b.WriteString(strconv.Itoa(s.threshold))
	for _, fp := range fps {
		b.WriteString("\nkey=")
		b.WriteString(fp)
	}
	for _, id := range ids {
		b.WriteString("\nidentity=")
		b.WriteString(strconv.Quote(id))
	}
	for _, r := range s.repositories {
		b.WriteString("\nrepository=")
		b.WriteString(strconv.Quote(r))
	}
	if len(p.TrustedRoot) > 0 {
		sum := sha256.Sum256(p.TrustedRoot)
		b.WriteString("\ntrusted-root=sha256:")
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}
