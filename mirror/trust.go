package mirror

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
)

// Media types of the trust material a transfer may carry.
const (
	// ArtifactTypeTrust is the artifact type of the manifest holding it.
	ArtifactTypeTrust = "application/vnd.dev.sealift.trust.v1"
	// MediaTypePublicKey is a PEM public key layer.
	MediaTypePublicKey = "application/vnd.dev.sealift.public-key.v1+pem"
	// MediaTypeTrustedRoot is a sigstore trusted_root.json layer.
	MediaTypeTrustedRoot = "application/vnd.dev.sigstore.trustedroot.v0.1+json"
	// TrustName names the trust manifest in a layout's index.json; it is
	// not a tag (it holds a '/'), so it never counts as the layout's tag.
	TrustName = "dev.sealift/trust"
)

// Trust is verification material carried with a transfer for convenience:
// public keys and a trusted_root.json. The far side uses a piece of it only
// when its fingerprint was pinned there (PinnedTrust): material read from
// the same file an attacker could alter proves nothing by itself.
type Trust struct {
	// Keys are PEM public keys.
	Keys [][]byte
	// TrustedRoot is a trusted_root.json, or nil.
	TrustedRoot []byte
}

// TrustFingerprint is the fingerprint a piece of trust material is pinned
// by: a key's is cosignfmt.Fingerprint ("sha256:" over its PKIX DER), a
// trusted root's "sha256:" over the file's bytes.
func TrustFingerprint(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// carryTrust writes tr into a layout sink as one manifest named TrustName.
// A registry destination carries no trust material.
func (s *sink) carryTrust(ctx context.Context, tr *Trust) error {
	if tr == nil || s.store == nil {
		return nil
	}
	var layers []ocispec.Descriptor
	push := func(mediaType string, data []byte) (ocispec.Descriptor, error) {
		d := content.NewDescriptorFromBytes(mediaType, data)
		if err := s.store.Push(ctx, d, bytes.NewReader(data)); err != nil && !isExists(err) {
			return d, err
		}
		return d, nil
	}
	for _, k := range tr.Keys {
		if _, err := cosignfmt.LoadPublicKey(k); err != nil {
			return fmt.Errorf("carried key: %w", err)
		}
		d, err := push(MediaTypePublicKey, k)
		if err != nil {
			return err
		}
		layers = append(layers, d)
	}
	if tr.TrustedRoot != nil {
		d, err := push(MediaTypeTrustedRoot, tr.TrustedRoot)
		if err != nil {
			return err
		}
		layers = append(layers, d)
	}
	if len(layers) == 0 {
		return nil
	}
	config, err := push(ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	if err != nil {
		return err
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeTrust, Config: config, Layers: layers}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	desc, err := push(ocispec.MediaTypeImageManifest, data)
	if err != nil {
		return err
	}
	desc.ArtifactType = ArtifactTypeTrust
	return s.label(ctx, desc, TrustName, EntryTrust, "", "")
}

func isExists(err error) bool { return errors.Is(err, oraserr.ErrAlreadyExists) }

// PinnedTrust reads the trust material a transfer's layout or tar carries
// (its EntryTrust entry, read with every blob checked against its digest)
// and returns the keys and trusted root whose fingerprints (TrustFingerprint,
// cosignfmt.Fingerprint) are among pins. Everything else it carries is
// returned in ignored, by fingerprint, for the caller to warn about. A
// layout that carries none returns nothing.
func PinnedTrust(ctx context.Context, target oras.ReadOnlyTarget, entries []ReleaseEntry, pins []string) (keys []crypto.PublicKey, root []byte, ignored []string, err error) {
	for _, e := range entries {
		if e.Kind != EntryTrust {
			continue
		}
		if e.Descriptor.Size > limits.MaxManifestBytes {
			return nil, nil, nil, fmt.Errorf("%w: trust manifest is %d bytes", errdef.ErrSizeExceedsLimit, e.Descriptor.Size)
		}
		b, err := content.FetchAll(ctx, target, e.Descriptor)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("trust manifest: %w", err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil || m.ArtifactType != ArtifactTypeTrust {
			return nil, nil, nil, fmt.Errorf("%w: %s is not a trust manifest", errdef.ErrInvalidManifest, e.Descriptor.Digest)
		}
		if len(m.Layers) > limits.MaxSignatures {
			return nil, nil, nil, fmt.Errorf("%w: trust manifest holds %d layers", errdef.ErrSizeExceedsLimit, len(m.Layers))
		}
		for _, l := range m.Layers {
			switch l.MediaType {
			case MediaTypePublicKey:
				if l.Size > limits.MaxKeyFileBytes {
					return nil, nil, nil, fmt.Errorf("%w: carried key %s is %d bytes", errdef.ErrSizeExceedsLimit, l.Digest, l.Size)
				}
				data, err := content.FetchAll(ctx, target, l)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("carried key %s: %w", l.Digest, err)
				}
				pub, err := cosignfmt.LoadPublicKey(data)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("carried key %s: %w", l.Digest, err)
				}
				fp := cosignfmt.Fingerprint(pub)
				if slices.Contains(pins, fp) {
					keys = append(keys, pub)
				} else {
					ignored = append(ignored, "key "+fp)
				}
			case MediaTypeTrustedRoot:
				if l.Size > limits.MaxTrustedRootBytes {
					return nil, nil, nil, fmt.Errorf("%w: carried trusted root %s is %d bytes", errdef.ErrSizeExceedsLimit, l.Digest, l.Size)
				}
				data, err := content.FetchAll(ctx, target, l)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("carried trusted root %s: %w", l.Digest, err)
				}
				fp := TrustFingerprint(data)
				if slices.Contains(pins, fp) && root == nil {
					root = data
				} else {
					ignored = append(ignored, "trusted root "+fp)
				}
			default:
				ignored = append(ignored, "layer "+l.Digest.String()+" ("+l.MediaType+")")
			}
		}
	}
	return keys, root, ignored, nil
}
