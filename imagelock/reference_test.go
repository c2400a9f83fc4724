package imagelock_test

import (
	"errors"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
)

const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in   string
		want imagelock.Reference
		key  string
	}{
		{"nginx", imagelock.Reference{Domain: "docker.io", Path: "library/nginx"}, "docker.io/library/nginx:latest"},
		{"nginx:1.25", imagelock.Reference{Domain: "docker.io", Path: "library/nginx", Tag: "1.25"}, "docker.io/library/nginx:1.25"},
		{"library/nginx:1.25", imagelock.Reference{Domain: "docker.io", Path: "library/nginx", Tag: "1.25"}, "docker.io/library/nginx:1.25"},
		{"docker.io/nginx", imagelock.Reference{Domain: "docker.io", Path: "library/nginx"}, "docker.io/library/nginx:latest"},
		{"index.docker.io/library/nginx", imagelock.Reference{Domain: "docker.io", Path: "library/nginx"}, "docker.io/library/nginx:latest"},
		{"acme/api:2", imagelock.Reference{Domain: "docker.io", Path: "acme/api", Tag: "2"}, "docker.io/acme/api:2"},
		{"ghcr.io/acme/api", imagelock.Reference{Domain: "ghcr.io", Path: "acme/api"}, "ghcr.io/acme/api:latest"},
		{"localhost/app", imagelock.Reference{Domain: "localhost", Path: "app"}, "localhost/app:latest"},
		{"localhost:5000/app:v1", imagelock.Reference{Domain: "localhost:5000", Path: "app", Tag: "v1"}, "localhost:5000/app:v1"},
		{"registry:5000/team/app", imagelock.Reference{Domain: "registry:5000", Path: "team/app"}, "registry:5000/team/app:latest"},
		{"127.0.0.1:5000/a/b/c:x", imagelock.Reference{Domain: "127.0.0.1:5000", Path: "a/b/c", Tag: "x"}, "127.0.0.1:5000/a/b/c:x"},
		{"[::1]:5000/app", imagelock.Reference{Domain: "[::1]:5000", Path: "app"}, "[::1]:5000/app:latest"},
		{"nginx@" + dgst, imagelock.Reference{Domain: "docker.io", Path: "library/nginx", Digest: dgst}, "docker.io/library/nginx@" + dgst},
		{"quay.io/x/y:1.0@" + dgst, imagelock.Reference{Domain: "quay.io", Path: "x/y", Tag: "1.0", Digest: dgst}, "quay.io/x/y@" + dgst},
		{"example.com:443/x@" + dgst, imagelock.Reference{Domain: "example.com:443", Path: "x", Digest: dgst}, "example.com:443/x@" + dgst},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := imagelock.ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.Key() != tt.key {
				t.Errorf("key %q, want %q", got.Key(), tt.key)
			}
			again, err := imagelock.ParseReference(got.String())
			if err != nil || again != got {
				t.Errorf("String() %q does not parse back to the same reference: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseReferenceRefuses(t *testing.T) {
	for _, in := range []string{
		"", " nginx", "nginx ", "NGINX", "nginx:", "nginx:-bad", "nginx@sha256:abc",
		"nginx@md5:0123", "https://ghcr.io/x", "ghcr.io/", "/nginx", "ghcr.io//x",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a:b:c",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := imagelock.ParseReference(in)
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) = %v, want ErrInvalidReference", in, err)
			}
		})
	}
}

func TestMirrors(t *testing.T) {
	ms, err := imagelock.NewMirrors([]imagelock.Mirror{
		{From: "docker.io", To: "mirror.internal:5000"},
		{From: "docker.io/library", To: "mirror.internal:5000/hub"},
		{From: "index.docker.io/bitnami", To: "mirror.internal:5000/bitnami-copy"},
		{From: "ghcr.io/acme", To: "localhost:5000"},
		{From: "registry:5000/team/app", To: "mirror.internal/app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		image, want string // want "" means no rule
	}{
		{"nginx:1.25", "mirror.internal:5000/hub/nginx:1.25"},
		{"library/redis@" + dgst, "mirror.internal:5000/hub/redis@" + dgst},
		{"acme/api:2", "mirror.internal:5000/acme/api:2"},
		{"bitnami/redis", "mirror.internal:5000/bitnami-copy/redis"},
		{"ghcr.io/acme/tool:1", "localhost:5000/tool:1"},
		{"ghcr.io/acme", "error"},     // nothing left below the host
		{"ghcr.io/acmeco/tool:1", ""}, // a prefix ends at a '/'
		{"registry:5000/team/app:3", "mirror.internal/app:3"},
		{"registry:5000/team/app/sub", "mirror.internal/app/sub"},
		{"registry:5001/team/app", ""}, // the port is part of the host
		{"quay.io/x/y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			ref, err := imagelock.ParseReference(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := ms.Match(ref)
			if tt.want == "" {
				if ok {
					t.Fatalf("matched %+v, want no rule", m)
				}
				return
			}
			if !ok {
				t.Fatalf("no rule matched, want %s", tt.want)
			}
			got, err := m.Relocate(ref)
			if tt.want == "error" {
				if !errors.Is(err, errdef.ErrInvalidReference) {
					t.Fatalf("Relocate = %v, %v; want ErrInvalidReference", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("relocated to %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewMirrorsRefuses(t *testing.T) {
	tests := map[string][]imagelock.Mirror{
		"empty from":        {{From: "", To: "m.internal"}},
		"empty to":          {{From: "docker.io", To: ""}},
		"scheme":            {{From: "https://docker.io", To: "m.internal"}},
		"no host":           {{From: "library", To: "m.internal"}},
		"to without host":   {{From: "docker.io", To: "mirror/x"}},
		"tag":               {{From: "docker.io/library/nginx:1", To: "m.internal"}},
		"digest":            {{From: "docker.io", To: "m.internal/x@" + dgst}},
		"trailing slash":    {{From: "docker.io/", To: "m.internal"}},
		"upper case path":   {{From: "docker.io/Library", To: "m.internal"}},
		"same from twice":   {{From: "docker.io", To: "a.internal"}, {From: "index.docker.io", To: "b.internal"}},
		"double slash path": {{From: "ghcr.io//x", To: "m.internal"}},
	}
	for name, rules := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := imagelock.NewMirrors(rules); !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("NewMirrors(%+v) = %v, want ErrInvalidReference", rules, err)
			}
		})
	}
}
