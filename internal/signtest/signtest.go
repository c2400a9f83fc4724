// Package signtest publishes signed artifacts for tests: a cosign key pair,
// and a push to an in-process registry followed by a legacy-format
// signature, as CI does. Only tests import it.
package signtest

import (
	"context"
	"crypto"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/push"
)

// KeyPair is a cosign key pair for a test.
type KeyPair struct {
	Signer    crypto.Signer
	PublicPEM []byte
}

// NewKeyPair generates a cosign key pair (ECDSA P-256, the private key
// encrypted as cosign writes it, then decrypted again).
func NewKeyPair(t testing.TB) KeyPair {
	t.Helper()
	password := []byte("test-password")
	privPEM, pubPEM, err := cosignfmt.GenerateKeyPair(password)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cosignfmt.LoadPrivateKey(privPEM, password)
	if err != nil {
		t.Fatal(err)
	}
	return KeyPair{Signer: signer, PublicPEM: pubPEM}
}

// Publish pushes dir to repoName:tag at r as CI would (created at created;
// the zero time keeps push's default) and signs the digest with each signer
// in cosign's legacy format.
func Publish(t testing.TB, r *registrytest.Registry, repoName, tag, dir string, created time.Time, signers ...KeyPair) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	ref, repo := r.Repository(t, repoName, tag)
	desc, err := push.Push(ctx, dir, repo, tag, push.Options{Source: "https://example.com/app", Revision: tag, Created: created})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	for _, k := range signers {
		if err := cosignfmt.SignLegacy(ctx, repo, desc, ref.Repo(), k.Signer); err != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	return desc
}
