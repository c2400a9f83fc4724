package cosignfmt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

const testDigest = digest.Digest("sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b")

func TestSimpleSigningMatchesCosignPayload(t *testing.T) {
	ours, err := json.Marshal(NewSimpleSigning("127.0.0.1:5000/team/app", testDigest, nil))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := json.Marshal(payload.SimpleContainerImage{
		Critical: payload.Critical{
			Identity: payload.Identity{DockerReference: "127.0.0.1:5000/team/app"},
			Image:    payload.Image{DockerManifestDigest: testDigest.String()},
			Type:     payload.CosignSignatureType,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(ours) != string(theirs) {
		t.Errorf("payload differs from cosign's:\n ours:   %s\n theirs: %s", ours, theirs)
	}
	var c payload.Cosign
	if err := json.Unmarshal(ours, &c); err != nil {
		t.Fatalf("cosign cannot read our payload: %v", err)
	}
	if c.Image.DigestStr() != testDigest.String() {
		t.Errorf("cosign reads digest %s", c.Image.DigestStr())
	}
}

func TestParseSimpleSigning(t *testing.T) {
	valid := `{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"` + testDigest.String() + `"},"type":"cosign container image signature"},"optional":{"k":"v"}}`
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"valid", valid, nil},
		{"valid, optional null", strings.Replace(valid, `{"k":"v"}`, "null", 1), nil},
		{"not json", "nope", errdef.ErrInvalidManifest},
		{"trailing data", valid + "{}", errdef.ErrInvalidManifest},
		{"array", "[]", errdef.ErrInvalidManifest},
		{"wrong type", strings.Replace(valid, "cosign container image signature", "atomic container signature", 1), errdef.ErrInvalidManifest},
		{"missing digest", strings.Replace(valid, testDigest.String(), "", 1), errdef.ErrInvalidManifest},
		{"bad digest", strings.Replace(valid, testDigest.String(), "sha256:abc", 1), errdef.ErrInvalidManifest},
		{"unknown algorithm", strings.Replace(valid, "sha256:", "md5:", 1), errdef.ErrInvalidManifest},
		{"digest as number", strings.Replace(valid, `"`+testDigest.String()+`"`, "1", 1), errdef.ErrInvalidManifest},
		{"too large", valid + strings.Repeat(" ", int(limits.MaxSignaturePayloadBytes)), errdef.ErrSizeExceedsLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSimpleSigning([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Digest() != testDigest {
				t.Errorf("digest = %s", s.Digest())
			}
		})
	}
}

func FuzzParseSimpleSigning(f *testing.F) {
	good, _ := json.Marshal(NewSimpleSigning("r/a", testDigest, map[string]any{"a": 1}))
	f.Add(good)
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:"}}}`))
	f.Add([]byte(`{"critical":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSimpleSigning(b)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidManifest) && !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if s.Critical.Type != SimpleSigningType {
			t.Fatalf("accepted type %q", s.Critical.Type)
		}
		if err := s.Digest().Validate(); err != nil {
			t.Fatalf("accepted invalid digest %q", s.Digest())
		}
	})
}
