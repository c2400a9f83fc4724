package cosignfmt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

const testPassword = "correct horse"

var (
	keyOnce         sync.Once
	keyPriv, keyPub []byte
	keyErr          error
)

// testKeyPair generates one encrypted key pair per test binary: scrypt is
// slow under the race detector.
func testKeyPair(t *testing.T) (privPEM, pubPEM []byte) {
	t.Helper()
	keyOnce.Do(func() { keyPriv, keyPub, keyErr = GenerateKeyPair([]byte(testPassword)) })
	if keyErr != nil {
		t.Fatalf("GenerateKeyPair: %v", keyErr)
	}
	return keyPriv, keyPub
}

func TestGenerateKeyPairFormat(t *testing.T) {
	privPEM, pubPEM := testKeyPair(t)

	block, rest := pem.Decode(privPEM)
	if block == nil || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("private key is not exactly one PEM block")
	}
	if block.Type != PrivateKeyPEMType {
		t.Errorf("private PEM type = %q, want %q", block.Type, PrivateKeyPEMType)
	}
	if strings.Contains(string(block.Bytes), "PRIVATE") || !strings.Contains(string(block.Bytes), `"scrypt"`) {
		t.Errorf("private key body is not a scrypt-sealed envelope: %.80s", block.Bytes)
	}

	pblock, _ := pem.Decode(pubPEM)
	if pblock == nil || pblock.Type != PublicKeyPEMType {
		t.Fatalf("public key is not a %q PEM block", PublicKeyPEMType)
	}
	pub, err := x509.ParsePKIXPublicKey(pblock.Bytes)
	if err != nil {
		t.Fatalf("public key is not PKIX: %v", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("public key is %T, want ECDSA P-256", pub)
	}
}

func TestKeysInteroperateWithCosign(t *testing.T) {
	privPEM, pubPEM := testKeyPair(t)

	t.Run("cosign loads our private key", func(t *testing.T) {
		t.Parallel()
		sv, err := cosign.LoadPrivateKey(privPEM, []byte(testPassword), nil)
		if err != nil {
			t.Fatalf("cosign.LoadPrivateKey: %v", err)
		}
		pub, err := sv.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		want, err := LoadPublicKey(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		if err := cryptoutils.EqualKeys(pub, want); err != nil {
			t.Errorf("cosign's view of our key differs from our public key: %v", err)
		}
	})

	t.Run("we load cosign's key pair", func(t *testing.T) {
		t.Parallel()
		kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return []byte("pw"), nil })
		if err != nil {
			t.Fatalf("cosign.GenerateKeyPair: %v", err)
		}
		signer, err := LoadPrivateKey(kb.PrivateBytes, []byte("pw"))
		if err != nil {
			t.Fatalf("LoadPrivateKey(cosign key): %v", err)
		}
		pub, err := LoadPublicKey(kb.PublicBytes)
		if err != nil {
			t.Fatalf("LoadPublicKey(cosign key): %v", err)
		}
		if Fingerprint(signer.Public()) != Fingerprint(pub) {
			t.Errorf("private and public key from cosign do not match")
		}
		sig, err := Sign(signer, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifySignature(pub, []byte("payload"), sig); err != nil {
			t.Errorf("VerifySignature: %v", err)
		}
	})

	t.Run("legacy PEM type and wrong password", func(t *testing.T) {
		t.Parallel()
		block, _ := pem.Decode(privPEM)
		legacy := pem.EncodeToMemory(&pem.Block{Type: LegacyPrivateKeyPEMType, Bytes: block.Bytes})
		signer, err := LoadPrivateKey(legacy, []byte(testPassword))
		if err != nil {
			t.Fatalf("LoadPrivateKey(legacy type): %v", err)
		}
		pub, _ := LoadPublicKey(pubPEM)
		if Fingerprint(signer.Public()) != Fingerprint(pub) {
			t.Errorf("loaded private key does not match the public key")
		}

		_, err = LoadPrivateKey(privPEM, []byte("wrong"))
		if !errors.Is(err, errdef.ErrInvalidKey) {
			t.Fatalf("wrong password: err = %v, want ErrInvalidKey", err)
		}
		if !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), PasswordEnv) {
			t.Errorf("wrong password message does not say what to do: %v", err)
		}
	})
}

func TestLoadPrivateKeyRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	// Legacy scrypt parameters keep this case cheap; the envelope is valid
	// but holds bytes that are not a PKCS #8 key.
	notAKey, err := encrypted.EncryptWithCustomKDFParameters([]byte("not a key"), []byte("pw"), encrypted.Legacy)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("hello")},
		{"plain PKCS8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
		{"garbage envelope", pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: []byte("{}")})},
		{"not a key inside", pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: notAKey})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPrivateKey(tt.pem, []byte("pw"))
			if !errors.Is(err, errdef.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
}

func TestLoadPublicKey(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPEM, _ := MarshalPublicKey(ec.Public())
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := MarshalPublicKey(edPub)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakDER, _ := x509.MarshalPKIXPublicKey(weak.Public())
	weakPEM := pem.EncodeToMemory(&pem.Block{Type: PublicKeyPEMType, Bytes: weakDER})
	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"ecdsa", ecPEM, false},
		{"ed25519", edPEM, false},
		{"empty", nil, true},
		{"garbage", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), true},
		{"certificate type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), true},
		{"weak rsa", weakPEM, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := LoadPublicKey(tt.pem)
			if tt.wantErr {
				if !errors.Is(err, errdef.ErrInvalidKey) {
					t.Fatalf("err = %v, want ErrInvalidKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if Fingerprint(pub) == "" {
				t.Errorf("no fingerprint for loaded key")
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(ec.Public())
	sum := sha256.Sum256(der)
	if got, want := Fingerprint(ec.Public()), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if Fingerprint(ec.Public()) == Fingerprint(other.Public()) {
		t.Errorf("two keys share a fingerprint")
	}
	if Fingerprint("not a key") != "" {
		t.Errorf("fingerprint of a non-key should be empty")
	}
}

func FuzzLoadPublicKey(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := MarshalPublicKey(ec.Public())
	f.Add(p)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := LoadPublicKey(b)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidKey) {
				t.Fatalf("error does not wrap ErrInvalidKey: %v", err)
			}
			return
		}
		if Fingerprint(pub) == "" {
			t.Fatalf("accepted key has no fingerprint")
		}
	})
}

// TestTrustInputsShareOneCap: a key (from a file or inline) and a trusted
// root are read under the named limits, whatever the caller.
func TestTrustInputsShareOneCap(t *testing.T) {
	dir := t.TempDir()
	big := func(name string, n int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte("A"), int(n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyPath := big("key.pub", limits.MaxKeyFileBytes+1)
	if _, err := LoadPublicKeyFile(keyPath); !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errors.Is(err, errdef.ErrInvalidKey) {
		t.Errorf("oversized key file: err = %v, want ErrInvalidKey and ErrSizeExceedsLimit", err)
	}
	if _, err := LoadPublicKey(bytes.Repeat([]byte("A"), int(limits.MaxKeyFileBytes+1))); !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Errorf("oversized inline key: err = %v, want ErrSizeExceedsLimit", err)
	}
	rootPath := big("trusted_root.json", limits.MaxTrustedRootBytes+1)
	if _, err := LoadTrustedRootFile(rootPath); !errors.Is(err, errdef.ErrSizeExceedsLimit) || !errors.Is(err, errdef.ErrPolicyViolation) {
		t.Errorf("oversized trusted root: err = %v, want ErrPolicyViolation and ErrSizeExceedsLimit", err)
	}
	okRoot := big("small.json", 100)
	if b, err := LoadTrustedRootFile(okRoot); err != nil || len(b) != 100 {
		t.Errorf("small trusted root: %d bytes, %v", len(b), err)
	}
}
