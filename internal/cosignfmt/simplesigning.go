package cosignfmt

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

const (
	// SimpleSigningMediaType is the media type of a legacy signature layer.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds the base64 signature over a layer's payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// SimpleSigningType is the critical.type of a cosign image signature.
	SimpleSigningType = "cosign container image signature"
)

// SimpleSigning is the payload cosign signs for an image: the claimed
// repository and the manifest digest. Only Critical is trusted; Optional
// carries signer-chosen annotations.
type SimpleSigning struct {
	Critical Critical       `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Critical is the part of a simple-signing payload a verifier must check.
type Critical struct {
	Identity Identity `json:"identity"`
	Image    Image    `json:"image"`
	Type     string   `json:"type"`
}

// Identity is the repository the signer claims the image lives in.
type Identity struct {
	DockerReference string `json:"docker-reference"`
}

// Image names the signed manifest.
type Image struct {
	DockerManifestDigest string `json:"docker-manifest-digest"`
}

// NewSimpleSigning builds the payload for a signature over manifest d
// claimed to live in repository dockerRef (host/path, no tag).
func NewSimpleSigning(dockerRef string, d digest.Digest, optional map[string]any) SimpleSigning {
	return SimpleSigning{
		Critical: Critical{
			Identity: Identity{DockerReference: dockerRef},
			Image:    Image{DockerManifestDigest: d.String()},
			Type:     SimpleSigningType,
		},
		Optional: optional,
	}
}

// Digest returns the signed manifest digest.
func (s SimpleSigning) Digest() digest.Digest {
	return digest.Digest(s.Critical.Image.DockerManifestDigest)
}

// ParseSimpleSigning decodes and checks a simple-signing payload taken
// from a registry: at most limits.MaxSignaturePayloadBytes, a JSON object
// whose critical.type is SimpleSigningType and whose
// critical.image.docker-manifest-digest is a valid digest. Failures wrap
// errdef.ErrInvalidManifest (or errdef.ErrSizeExceedsLimit).
func ParseSimpleSigning(payload []byte) (SimpleSigning, error) {
	var s SimpleSigning
	if int64(len(payload)) > limits.MaxSignaturePayloadBytes {
		return s, fmt.Errorf("%w: signature payload is %d bytes, more than %d",
			errdef.ErrSizeExceedsLimit, len(payload), limits.MaxSignaturePayloadBytes)
	}
	if err := json.Unmarshal(payload, &s); err != nil {
		return SimpleSigning{}, fmt.Errorf("%w: signature payload is not JSON: %v", errdef.ErrInvalidManifest, err)
	}
	if s.Critical.Type != SimpleSigningType {
		return SimpleSigning{}, fmt.Errorf("%w: signature payload type %q, want %q",
			errdef.ErrInvalidManifest, s.Critical.Type, SimpleSigningType)
	}
	if err := s.Digest().Validate(); err != nil {
		return SimpleSigning{}, fmt.Errorf("%w: signature payload digest %q: %v",
			errdef.ErrInvalidManifest, s.Critical.Image.DockerManifestDigest, err)
	}
	return s, nil
}
