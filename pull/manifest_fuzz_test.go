package pull

import (
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/errdef"
)

func TestParseDocument(t *testing.T) {
	const d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"c","digest":"` + d + `","size":2},"layers":[{"mediaType":"l","digest":"` + d + `","size":1}]}`
	tests := map[string]struct {
		mediaType string
		data      string
		wantErr   error
		wantKind  kind
	}{
		"manifest":              {ocispec.MediaTypeImageManifest, manifest, nil, kindManifest},
		"media type from body":  {"", manifest, nil, kindManifest},
		"index":                 {ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[]}`, nil, kindIndex},
		"not json":              {ocispec.MediaTypeImageManifest, `{`, errdef.ErrInvalidManifest, 0},
		"schema 1":              {ocispec.MediaTypeImageManifest, `{"schemaVersion":1}`, errdef.ErrInvalidManifest, 0},
		"no schema":             {ocispec.MediaTypeImageManifest, `{"config":{}}`, errdef.ErrInvalidManifest, 0},
		"confused media type":   {ocispec.MediaTypeImageIndex, manifest, errdef.ErrInvalidManifest, 0},
		"manifest no config":    {ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"layers":[]}`, errdef.ErrInvalidManifest, 0},
		"index with layers":     {ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"layers":[]}`, errdef.ErrInvalidManifest, 0},
		"bad layer digest":      {ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"digest":"` + d + `"},"layers":[{"digest":"sha256:zz"}]}`, errdef.ErrInvalidManifest, 0},
		"negative size":         {ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"digest":"` + d + `","size":-1}}`, errdef.ErrInvalidManifest, 0},
		"unknown media type":    {"application/json", `{"schemaVersion":2}`, errdef.ErrUnsupportedMediaType, 0},
		"docker manifest":       {mediaTypeDockerManifest, `{"schemaVersion":2,"config":{"digest":"` + d + `"},"layers":[]}`, nil, kindManifest},
		"missing mediaType all": {"", `{"schemaVersion":2}`, errdef.ErrUnsupportedMediaType, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := parseDocument(tc.mediaType, []byte(tc.data))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && doc.Kind != tc.wantKind {
				t.Errorf("kind %v, want %v", doc.Kind, tc.wantKind)
			}
		})
	}
}

func FuzzParseDocument(f *testing.F) {
	const d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"digest":"`+d+`","size":2},"layers":[{"mediaType":"l","digest":"`+d+`","size":1}]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+d+`","size":3}]}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`))
	f.Add("x", []byte(`[]`))
	f.Fuzz(func(t *testing.T, mediaType string, data []byte) {
		doc, err := parseDocument(mediaType, data)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidManifest) && !errors.Is(err, errdef.ErrUnsupportedMediaType) && !errors.Is(err, errdef.ErrSizeExceedsLimit) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if doc.Kind == kindOther {
			t.Fatal("accepted a document that is neither manifest nor index")
		}
		for _, l := range append(append([]ocispec.Descriptor{doc.Config}, doc.Layers...), doc.Manifests...) {
			if doc.Kind == kindIndex && l.Digest == "" {
				continue // the zero config of an index
			}
			if l.Digest.Validate() != nil || l.Size < 0 {
				t.Fatalf("accepted descriptor %+v", l)
			}
		}
		if len(doc.Layers) > 1000 || len(doc.Manifests) > 1000 {
			t.Fatal("accepted too many descriptors")
		}
	})
}
