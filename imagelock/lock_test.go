package imagelock_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/limits"
)

const (
	indexType    = "application/vnd.oci.image.index.v1+json"
	manifestType = "application/vnd.oci.image.manifest.v1+json"
	dgst2        = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	l := imagelock.New()
	l.Images = []imagelock.Image{
		{Image: "nginx:1.25", Digest: dgst2, MediaType: indexType, Size: 1609},
		{Image: "ghcr.io/acme/api@" + dgst, Digest: dgst, MediaType: manifestType, Size: 1025},
		{Image: "registry.internal/tool:dev", Unresolved: true},
	}
	data, err := imagelock.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: sealift.dev/v1alpha1
images:
- digest: ` + dgst + `
  image: ghcr.io/acme/api@` + dgst + `
  mediaType: application/vnd.oci.image.manifest.v1+json
  size: 1025
- digest: ` + dgst2 + `
  image: nginx:1.25
  mediaType: application/vnd.oci.image.index.v1+json
  size: 1609
- image: registry.internal/tool:dev
  unresolved: true
kind: ImagesLock
`
	if string(data) != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", data, want)
	}
	// The order of the input does not change the bytes.
	l.Images[0], l.Images[2] = l.Images[2], l.Images[0]
	again, err := imagelock.Marshal(l)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("Marshal of the same entries in another order differs: %v\n%s", err, again)
	}
	parsed, err := imagelock.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.Images) != 3 || parsed.Images[1].Image != "nginx:1.25" || parsed.Images[1].Size != 1609 {
		t.Errorf("Parse = %+v", parsed.Images)
	}
	desc, ok := parsed.Images[1].Descriptor()
	if !ok || desc.MediaType != indexType || desc.Digest.String() != dgst2 || desc.Size != 1609 {
		t.Errorf("Descriptor = %+v, %v", desc, ok)
	}
	if _, ok := parsed.Images[2].Descriptor(); ok {
		t.Error("an unresolved entry has a descriptor")
	}
}

func TestIndexLookup(t *testing.T) {
	l := imagelock.New()
	l.Images = []imagelock.Image{
		{Image: "nginx:1.25", Digest: dgst2, MediaType: indexType, Size: 10},
		{Image: "ghcr.io/acme/api@" + dgst, Digest: dgst, MediaType: manifestType, Size: 10},
		{Image: "busybox", Digest: dgst, MediaType: manifestType, Size: 10},
	}
	x := imagelock.NewIndex(l)
	tests := map[string]string{ // written -> the entry's Image, "" for none
		"nginx:1.25":                             "nginx:1.25",
		"docker.io/library/nginx:1.25":           "nginx:1.25",
		"index.docker.io/library/nginx:1.25":     "nginx:1.25",
		"nginx:1.26":                             "",
		"nginx":                                  "",
		"ghcr.io/acme/api:any-tag@" + dgst:       "ghcr.io/acme/api@" + dgst,
		"ghcr.io/acme/api@" + dgst2:              "",
		"busybox:latest":                         "busybox",
		"docker.io/library/busybox":              "busybox",
		"NOT A REFERENCE":                        "",
		"ghcr.io/acme/api":                       "",
		"registry.example/library/nginx:1.25":    "",
		"docker.io/library/nginx:1.25@" + dgst2:  "nginx:1.25",
		"nginx:1.24@" + dgst2:                    "nginx:1.25",
		"nginx@" + dgst2:                         "nginx:1.25",
		"docker.io/library/nginx:1.25@" + dgst:   "",
		"docker.io/library/busybox:latest@" + dg: "",
		"docker.io/library/busybox@" + dgst:      "busybox",
		"docker.io/library/redis@" + dgst:        "",
	}
	for in, want := range tests {
		got, ok := x.Lookup(in)
		if (want == "") == ok || (ok && got.Image != want) {
			t.Errorf("Lookup(%q) = %q, %v; want %q", in, got.Image, ok, want)
		}
	}
}

const dg = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// TestParseAttacks is the table of hostile or broken locks Parse refuses.
func TestParseAttacks(t *testing.T) {
	head := "apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\n"
	entry := func(fields string) string { return head + "images:\n- " + fields + "\n" }
	many := strings.Builder{}
	many.WriteString(head + "images:\n")
	for i := range limits.MaxLockedImages + 1 {
		fmt.Fprintf(&many, "- {image: r.example/i%d, unresolved: true}\n", i)
	}
	tests := []struct {
		name, data string
		want       error
	}{
		{"empty", "", errdef.ErrInvalidManifest},
		{"not yaml", "{{{", errdef.ErrInvalidManifest},
		{"wrong kind", "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nimages: []\n", errdef.ErrInvalidManifest},
		{"wrong version", "apiVersion: v1\nkind: ImagesLock\nimages: []\n", errdef.ErrInvalidManifest},
		{"unknown field", head + "images: []\nextra: 1\n", errdef.ErrInvalidManifest},
		{"unknown entry field", entry("{image: nginx, digest: " + dgst + ", mediaType: " + manifestType + ", size: 3, platform: x}"), errdef.ErrInvalidManifest},
		{"duplicate key", head + "kind: ImagesLock\nimages: []\n", errdef.ErrInvalidManifest},
		{"bad reference", entry("{image: 'NGINX', unresolved: true}"), errdef.ErrInvalidManifest},
		{"bad digest", entry("{image: nginx, digest: 'sha256:xyz', mediaType: " + manifestType + ", size: 3}"), errdef.ErrInvalidManifest},
		{"resolved without digest", entry("{image: nginx, mediaType: " + manifestType + ", size: 3}"), errdef.ErrInvalidManifest},
		{"resolved without media type", entry("{image: nginx, digest: " + dgst + ", size: 3}"), errdef.ErrInvalidManifest},
		{"not a manifest", entry("{image: nginx, digest: " + dgst + ", mediaType: application/octet-stream, size: 3}"), errdef.ErrInvalidManifest},
		{"negative size", entry("{image: nginx, digest: " + dgst + ", mediaType: " + manifestType + ", size: -1}"), errdef.ErrInvalidManifest},
		{"oversized manifest", entry(fmt.Sprintf("{image: nginx, digest: %s, mediaType: %s, size: %d}", dgst, manifestType, limits.MaxManifestBytes+1)), errdef.ErrInvalidManifest},
		{"pinned reference, other digest", entry("{image: 'nginx@" + dgst + "', digest: " + dgst2 + ", mediaType: " + manifestType + ", size: 3}"), errdef.ErrInvalidManifest},
		{"unresolved tag with a digest", entry("{image: nginx, digest: " + dgst + ", unresolved: true}"), errdef.ErrInvalidManifest},
		{"listed twice", head + "images:\n- {image: nginx, unresolved: true}\n- {image: nginx, unresolved: true}\n", errdef.ErrInvalidManifest},
		{"too many entries", many.String(), errdef.ErrSizeExceedsLimit},
		{"too large", head + "images: []\n#" + strings.Repeat("x", int(limits.MaxImagesLockBytes)), errdef.ErrSizeExceedsLimit},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n", errdef.ErrInvalidManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := imagelock.Parse([]byte(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMarshalRefusesWhatParseRefuses(t *testing.T) {
	l := imagelock.New()
	l.Images = []imagelock.Image{{Image: "nginx", Digest: "sha256:short", MediaType: manifestType, Size: 1}}
	if _, err := imagelock.Marshal(l); !errors.Is(err, errdef.ErrInvalidManifest) {
		t.Fatalf("Marshal = %v, want ErrInvalidManifest", err)
	}
}
