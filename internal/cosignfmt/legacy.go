package cosignfmt

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// dockerManifestMediaType is the Docker schema 2 manifest type, which cosign
// writes instead of the OCI one when DOCKER_MEDIA_TYPES is set.
const dockerManifestMediaType = "application/vnd.docker.distribution.manifest.v2+json"

// zeroTime is how cosign's image library writes an unset creation time.
const zeroTime = "0001-01-01T00:00:00Z"

// LegacySignatureTag returns the tag cosign stores signatures for d under:
// "<algorithm>-<hex>.sig".
func LegacySignatureTag(d digest.Digest) string {
	return ReferrersTag(d) + ".sig"
}

// SignLegacy signs subject as cosign does without a transparency log: it
// signs a simple-signing payload naming subject.Digest and dockerRef (the
// repository, host/path) with signer, and adds it as a layer to the
// signature manifest tagged LegacySignatureTag(subject.Digest) in target.
// Layers already there are kept; when one already holds the same payload
// signed by the same key, nothing is written.
func SignLegacy(ctx context.Context, target oras.Target, subject ocispec.Descriptor, dockerRef string, signer crypto.Signer) error {
	if err := subject.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: subject digest %q: %v", errdef.ErrInvalidReference, subject.Digest, err)
	}
	if dockerRef == "" {
		return fmt.Errorf("%w: empty repository name for the signature payload", errdef.ErrInvalidReference)
	}
	if signer == nil {
		return fmt.Errorf("%w: no signing key", errdef.ErrInvalidKey)
	}
	payload, err := json.Marshal(NewSimpleSigning(dockerRef, subject.Digest, nil))
	if err != nil {
		return fmt.Errorf("encode signature payload: %w", err)
	}
	payloadDesc := content.NewDescriptorFromBytes(SimpleSigningMediaType, payload)

	tag := LegacySignatureTag(subject.Digest)
	var layers []ocispec.Descriptor
	existing, err := target.Resolve(ctx, tag)
	switch {
	case err == nil:
		m, err := FetchSignatureManifest(ctx, target, existing)
		if err != nil {
			return fmt.Errorf("read existing signatures %s: %w", tag, err)
		}
		layers = m.Layers
	case errors.Is(err, oraserr.ErrNotFound):
	default:
		return fmt.Errorf("resolve %s: %w", tag, err)
	}
	for _, l := range layers {
		if l.Digest != payloadDesc.Digest || l.MediaType != SimpleSigningMediaType {
			continue
		}
		sig, err := DecodeSignature(l)
		if err != nil {
			continue
		}
		if VerifySignature(signer.Public(), payload, sig) == nil {
			return nil // this key already signed this digest
		}
	}
	if len(layers)+1 > limits.MaxLayers {
		return fmt.Errorf("%w: signature manifest %s already holds %d layers (max %d)",
			errdef.ErrSizeExceedsLimit, tag, len(layers), limits.MaxLayers)
	}

	sig, err := Sign(signer, payload)
	if err != nil {
		return err
	}
	payloadDesc.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	layers = append(layers, payloadDesc)

	if err := pushBlob(ctx, target, payloadDesc, payload); err != nil {
		return fmt.Errorf("push signature payload: %w", err)
	}
	return WriteSignatureManifest(ctx, target, layers, tag)
}

// WriteSignatureManifest pushes the config cosign writes for a signature
// manifest holding layers (whose blobs target must already hold), then the
// manifest itself, tagged tag.
func WriteSignatureManifest(ctx context.Context, target oras.Target, layers []ocispec.Descriptor, tag string) error {
	config, err := SignatureConfig(layers)
	if err != nil {
		return err
	}
	configDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, config)
	if err := pushBlob(ctx, target, configDesc, config); err != nil {
		return fmt.Errorf("push signature config: %w", err)
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	})
	if err != nil {
		return fmt.Errorf("encode signature manifest: %w", err)
	}
	if _, err := oras.TagBytes(ctx, target, ocispec.MediaTypeImageManifest, manifest, tag); err != nil {
		return fmt.Errorf("push signature manifest %s: %w", tag, err)
	}
	return nil
}

// Sign signs payload with SHA-256 in the key's scheme: ECDSA (ASN.1),
// RSA PKCS #1 v1.5, or pure Ed25519.
func Sign(signer crypto.Signer, payload []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	switch signer.Public().(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		sum := sha256.Sum256(payload)
		sig, err = signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	case ed25519.PublicKey:
		sig, err = signer.Sign(rand.Reader, payload, crypto.Hash(0))
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", errdef.ErrInvalidKey, signer.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("sign payload: %w", err)
	}
	return sig, nil
}

// VerifySignature checks sig over payload with pub, in the schemes Sign
// uses. A signature that does not verify wraps errdef.ErrSignatureInvalid.
func VerifySignature(pub crypto.PublicKey, payload, sig []byte) error {
	sum := sha256.Sum256(payload)
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, payload, sig)
	default:
		return fmt.Errorf("%w: unsupported key type %T", errdef.ErrInvalidKey, pub)
	}
	if !ok {
		return fmt.Errorf("%w: signature does not verify with key %s", errdef.ErrSignatureInvalid, Fingerprint(pub))
	}
	return nil
}

// DecodeSignature returns the signature a legacy layer carries in its
// SignatureAnnotation. A missing or malformed annotation wraps
// errdef.ErrInvalidManifest.
func DecodeSignature(layer ocispec.Descriptor) ([]byte, error) {
	b64, ok := layer.Annotations[SignatureAnnotation]
	if !ok || b64 == "" {
		return nil, fmt.Errorf("%w: signature layer %s has no %q annotation",
			errdef.ErrInvalidManifest, layer.Digest, SignatureAnnotation)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: signature layer %s: annotation is not base64: %v",
			errdef.ErrInvalidManifest, layer.Digest, err)
	}
	return sig, nil
}

// FetchSignatureManifest fetches the signature manifest desc, refusing more
// than limits.MaxManifestBytes, checking size and digest while reading, and
// parses it with ParseSignatureManifest.
func FetchSignatureManifest(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) (ocispec.Manifest, error) {
	b, err := fetchMetadata(ctx, f, desc, "signature manifest")
	if err != nil {
		return ocispec.Manifest{}, err
	}
	return ParseSignatureManifest(b)
}

// fetchMetadata fetches desc, a manifest or index called what in
// messages, refusing more than limits.MaxManifestBytes and checking size
// and digest while reading. Content failures are mapped onto sealift's
// sentinels by classify; transport failures are returned as they are.
func fetchMetadata(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, what string) ([]byte, error) {
	if desc.Size < 0 || desc.Size > limits.MaxManifestBytes {
		return nil, fmt.Errorf("%w: %s %s is %d bytes (max %d)",
			errdef.ErrSizeExceedsLimit, what, desc.Digest, desc.Size, limits.MaxManifestBytes)
	}
	b, err := content.FetchAll(ctx, f, desc)
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", what, desc.Digest, classify(err))
	}
	return b, nil
}

// FetchPayload fetches a signature layer's payload, refusing more than
// limits.MaxSignaturePayloadBytes and checking size and digest while
// reading.
func FetchPayload(ctx context.Context, f content.Fetcher, layer ocispec.Descriptor) ([]byte, error) {
	if layer.Size < 0 || layer.Size > limits.MaxSignaturePayloadBytes {
		return nil, fmt.Errorf("%w: signature payload %s is %d bytes (max %d)",
			errdef.ErrSizeExceedsLimit, layer.Digest, layer.Size, limits.MaxSignaturePayloadBytes)
	}
	b, err := content.FetchAll(ctx, f, layer)
	if err != nil {
		return nil, fmt.Errorf("fetch signature payload %s: %w", layer.Digest, classify(err))
	}
	return b, nil
}

// classify maps content verification failures onto sealift's sentinels,
// leaving other (transport) errors as they are.
func classify(err error) error {
	switch {
	case errors.Is(err, content.ErrMismatchedDigest):
		return fmt.Errorf("%w: %v", errdef.ErrDigestMismatch, err)
	case errors.Is(err, content.ErrTrailingData), errors.Is(err, content.ErrInvalidDescriptorSize):
		return fmt.Errorf("%w: %v", errdef.ErrSizeMismatch, err)
	case errors.Is(err, oraserr.ErrNotFound):
		return fmt.Errorf("%w: %v", errdef.ErrNotFound, err)
	case errors.Is(err, oraserr.ErrSizeExceedsLimit):
		// A registry answering with more than the client accepts (an
		// endless referrers list, a huge manifest) is hostile, not down.
		return fmt.Errorf("%w: %v", errdef.ErrSizeExceedsLimit, err)
	}
	return err
}

// ParseSignatureManifest decodes a signature manifest read from a registry:
// an image manifest (OCI or Docker schema 2) with at most limits.MaxLayers
// layers, each with a valid digest and a non-negative size. Failures wrap
// errdef.ErrInvalidManifest or errdef.ErrSizeExceedsLimit.
func ParseSignatureManifest(b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if int64(len(b)) > limits.MaxManifestBytes {
		return m, fmt.Errorf("%w: signature manifest is %d bytes (max %d)",
			errdef.ErrSizeExceedsLimit, len(b), limits.MaxManifestBytes)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest: %v", errdef.ErrInvalidManifest, err)
	}
	if m.SchemaVersion != 2 {
		return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest schemaVersion %d, want 2",
			errdef.ErrInvalidManifest, m.SchemaVersion)
	}
	switch m.MediaType {
	case "", ocispec.MediaTypeImageManifest, dockerManifestMediaType:
	default:
		return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest media type %q",
			errdef.ErrInvalidManifest, m.MediaType)
	}
	if len(m.Layers) > limits.MaxLayers {
		return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest has %d layers (max %d)",
			errdef.ErrSizeExceedsLimit, len(m.Layers), limits.MaxLayers)
	}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest layer %d: digest %q: %v",
				errdef.ErrInvalidManifest, i, l.Digest, err)
		}
		if l.Size < 0 {
			return ocispec.Manifest{}, fmt.Errorf("%w: signature manifest layer %d: negative size",
				errdef.ErrInvalidManifest, i)
		}
	}
	return m, nil
}

// SignatureConfig is the image config cosign's image library writes for a
// signature manifest: one diff ID and one empty history entry per layer.
func SignatureConfig(layers []ocispec.Descriptor) ([]byte, error) {
	type history struct {
		Created string `json:"created"`
	}
	type rootFS struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	}
	cfg := struct {
		Architecture string    `json:"architecture"`
		Created      string    `json:"created"`
		History      []history `json:"history,omitempty"`
		OS           string    `json:"os"`
		RootFS       rootFS    `json:"rootfs"`
		Config       struct{}  `json:"config"`
	}{Created: zeroTime, RootFS: rootFS{Type: "layers", DiffIDs: []digest.Digest{}}}
	for _, l := range layers {
		cfg.History = append(cfg.History, history{Created: zeroTime})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode signature config: %w", err)
	}
	return b, nil
}

// pushBlob pushes b unless the target already has it.
func pushBlob(ctx context.Context, target oras.Target, desc ocispec.Descriptor, b []byte) error {
	ok, err := target.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if err := target.Push(ctx, desc, bytes.NewReader(b)); err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
		return err
	}
	return nil
}
