package pull_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/pull"
)

const testDigest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// TestParseReference covers the four forms, oras-go style: a bare
// repository keeps an empty tag (nothing is defaulted), and WithDefaultTag
// is where "latest" comes in.
func TestParseReference(t *testing.T) {
	tests := map[string]struct {
		in          string
		want        pull.Reference
		str         string
		bare        bool
		defaultedTo string // Tag after WithDefaultTag
	}{
		"bare repository": {
			in: "127.0.0.1:5000/app", want: pull.Reference{"127.0.0.1:5000", "app", "", ""},
			str: "127.0.0.1:5000/app", bare: true, defaultedTo: pull.DefaultTag,
		},
		"bare repository with scheme and path": {
			in: "oci://registry.example.com/team/app", want: pull.Reference{"registry.example.com", "team/app", "", ""},
			str: "registry.example.com/team/app", bare: true, defaultedTo: pull.DefaultTag,
		},
		"tag": {
			in: "oci://registry.example.com/team/app:1.4.2", want: pull.Reference{"registry.example.com", "team/app", "1.4.2", ""},
			str: "registry.example.com/team/app:1.4.2", defaultedTo: "1.4.2",
		},
		"latest written out": {
			in: "host.io/app:latest", want: pull.Reference{"host.io", "app", "latest", ""},
			str: "host.io/app:latest", defaultedTo: "latest",
		},
		"digest": {
			in: "oci://localhost:5000/a/b/c@" + testDigest, want: pull.Reference{"localhost:5000", "a/b/c", "", testDigest},
			str: "localhost:5000/a/b/c@" + testDigest, defaultedTo: "",
		},
		"tag and digest": {
			in: "host.io/app:v1@" + testDigest, want: pull.Reference{"host.io", "app", "v1", testDigest},
			str: "host.io/app:v1@" + testDigest, defaultedTo: "v1",
		},
		"IPv6 host": {
			in: "[::1]:5000/app:v1", want: pull.Reference{"[::1]:5000", "app", "v1", ""},
			str: "[::1]:5000/app:v1", defaultedTo: "v1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := pull.ParseReference(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
			if got.Repo() != tc.want.Registry+"/"+tc.want.Repository {
				t.Errorf("Repo() = %q", got.Repo())
			}
			if got.IsBare() != tc.bare {
				t.Errorf("IsBare() = %v, want %v", got.IsBare(), tc.bare)
			}
			if d := got.WithDefaultTag(); d.Tag != tc.defaultedTo || d.Digest != tc.want.Digest {
				t.Errorf("WithDefaultTag() = %+v, want tag %q", d, tc.defaultedTo)
			}
		})
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{
		"",
		"oci://",
		"app",
		"https://host/app:v1",
		"host/",
		"/app",
		"host/App:v1",
		"host/app:",
		"host/app:-bad",
		"host/app@sha256:abc",
		"host/app@md5:9f86d081884c7d659a2feaa0c55ad015",
		"host/app:v1@",
		"us er@host/app",
		"host/app:v1:v2",
		"host/a//b",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := pull.ParseReference(in)
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("err = %v, want ErrInvalidReference", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
				t.Errorf("error %q does not name the input", err)
			}
		})
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"oci://registry.example.com/team/app:1.4.2", "127.0.0.1:5000/app",
		"host.io/app:v1@" + testDigest, "host/app@sha256:zz", "a/b:c@d", "oci://x/y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := pull.ParseReference(s)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("error %v does not wrap ErrInvalidReference", err)
			}
			return
		}
		_, path, _ := strings.Cut(strings.TrimPrefix(s, pull.Scheme), "/")
		if ref.IsBare() == strings.ContainsAny(path, ":@") {
			t.Fatalf("%q parsed as %+v: bare %v", s, ref, ref.IsBare())
		}
		again, err := pull.ParseReference(ref.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", ref.String(), s, err)
		}
		if again != ref {
			t.Fatalf("round trip %q: %+v != %+v", s, again, ref)
		}
	})
}

func ExampleParseReference() {
	ref, err := pull.ParseReference("oci://registry.example.com/team/app:1.4.2")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Registry, ref.Repository, ref.Tag)
	fmt.Println(ref.Repo())

	pinned, _ := pull.ParseReference("registry.example.com/team/app@" + testDigest)
	fmt.Println(pinned.Reference() == pinned.Digest)
	// Output:
	// registry.example.com team/app 1.4.2
	// registry.example.com/team/app
	// true
}
