package cosignfmt

import (
	"crypto"
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
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/internal/limits"
)

const (
	// PrivateKeyPEMType is the PEM block type cosign writes for new private keys.
	PrivateKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// LegacyPrivateKeyPEMType is the PEM block type older cosign releases wrote.
	LegacyPrivateKeyPEMType = "ENCRYPTED COSIGN PRIVATE KEY"
	// PublicKeyPEMType is the PEM block type of a PKIX public key.
	PublicKeyPEMType = "PUBLIC KEY"
	// PasswordEnv names the environment variable holding the private key
	// password, as cosign reads it.
	PasswordEnv = "COSIGN_PASSWORD"
)

// GenerateKeyPair makes an ECDSA P-256 key pair in cosign's format: the
// private key as PKCS #8, encrypted with password (scrypt and secretbox) in
// an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block, and the public key as a
// PKIX "PUBLIC KEY" PEM block. An empty password is allowed, as in cosign.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	if password == nil {
		password = []byte{}
	}
	sealed, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt private key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: sealed})
	pubPEM, err = MarshalPublicKey(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return privPEM, pubPEM, nil
}

// MarshalPublicKey encodes pub as a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: encode public key: %v", errdef.ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PublicKeyPEMType, Bytes: der}), nil
}

// LoadPrivateKey decrypts a cosign private key (either PEM block type) with
// password. A wrong password, a damaged file or an unsupported key type is
// an error wrapping errdef.ErrInvalidKey.
func LoadPrivateKey(pemBytes, password []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found in private key", errdef.ErrInvalidKey)
	}
	if block.Type != PrivateKeyPEMType && block.Type != LegacyPrivateKeyPEMType {
		return nil, fmt.Errorf("%w: PEM block type %q is not a cosign private key (want %q)",
			errdef.ErrInvalidKey, block.Type, PrivateKeyPEMType)
	}
	if password == nil {
		password = []byte{}
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt private key: wrong password or damaged key (%v); set %s to the key's password",
			errdef.ErrInvalidKey, err, PasswordEnv)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse private key: %v", errdef.ErrInvalidKey, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		if err := cryptoutils.ValidatePubKey(k.(crypto.Signer).Public()); err != nil {
			return nil, fmt.Errorf("%w: %v", errdef.ErrInvalidKey, err)
		}
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("%w: unsupported private key type %T", errdef.ErrInvalidKey, key)
	}
}

// LoadPublicKey parses a PEM public key (PKIX "PUBLIC KEY", or PKCS #1
// "RSA PUBLIC KEY"). A malformed or weak key is an error wrapping
// errdef.ErrInvalidKey.
func LoadPublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	if int64(len(pemBytes)) > limits.MaxKeyFileBytes {
		return nil, fmt.Errorf("%w: public key of %d bytes: %w (limit %d)", errdef.ErrInvalidKey, len(pemBytes), errdef.ErrSizeExceedsLimit, limits.MaxKeyFileBytes)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parse public key: %v", errdef.ErrInvalidKey, err)
	}
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return nil, fmt.Errorf("%w: %v", errdef.ErrInvalidKey, err)
	}
	return pub, nil
}

// LoadPublicKeyFile reads and parses a PEM public key file.
func LoadPublicKeyFile(path string) (crypto.PublicKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := LoadPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// LoadPrivateKeyFile reads a cosign private key file and decrypts it with
// password.
func LoadPrivateKeyFile(path string, password []byte) (crypto.Signer, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	s, err := LoadPrivateKey(b, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := fsutil.ReadFile(path, limits.MaxKeyFileBytes)
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return nil, fmt.Errorf("%w: key file: %w", errdef.ErrInvalidKey, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	return b, nil
}

// Fingerprint names a public key as "sha256:<hex>" over its PKIX DER
// encoding. It returns "" for a key that cannot be encoded.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoadTrustedRootFile reads a trusted_root.json from disk, capped at
// limits.MaxTrustedRootBytes (a larger file wraps errdef.ErrPolicyViolation
// and errdef.ErrSizeExceedsLimit). It is the one reader of trust roots, for
// the CLI's --trusted-root and a Sync's spec.verify.trustedRoot.path alike;
// the content is parsed by the verifier.
func LoadTrustedRootFile(path string) ([]byte, error) {
	b, err := fsutil.ReadFile(path, limits.MaxTrustedRootBytes)
	if errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return nil, fmt.Errorf("%w: trusted root %s: %w", errdef.ErrPolicyViolation, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	return b, nil
}
