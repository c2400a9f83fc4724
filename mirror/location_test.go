package mirror

import (
	"errors"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseLocation(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Location
		repo string // for registries: host/repository
	}{
		"registry tag":          {in: "oci://127.0.0.1:5000/team/app:1.4.2", want: Location{Kind: KindRegistry, Tag: "1.4.2"}, repo: "127.0.0.1:5000/team/app"},
		"registry no tag":       {in: "oci://127.0.0.1:5000/team/app", want: Location{Kind: KindRegistry}, repo: "127.0.0.1:5000/team/app"},
		"registry digest":       {in: "oci://r.example/app@" + testDigest, want: Location{Kind: KindRegistry, Digest: testDigest}, repo: "r.example/app"},
		"registry tag + digest": {in: "oci://r.example/app:v1@" + testDigest, want: Location{Kind: KindRegistry, Tag: "v1", Digest: testDigest}, repo: "r.example/app"},
		"layout":                {in: "oci-layout:./out", want: Location{Kind: KindLayout, Path: "./out"}},
		"layout tag":            {in: "oci-layout:./out:1.4.2", want: Location{Kind: KindLayout, Path: "./out", Tag: "1.4.2"}},
		"layout digest":         {in: "oci-layout:/tmp/l@" + testDigest, want: Location{Kind: KindLayout, Path: "/tmp/l", Digest: testDigest}},
		"layout colon in dir":   {in: "oci-layout:/tmp/a:b/layout", want: Location{Kind: KindLayout, Path: "/tmp/a:b/layout"}},
		"tar":                   {in: "tar:app.tar", want: Location{Kind: KindTar, Path: "app.tar"}},
		"tar tag":               {in: "tar:/x/app.tar:v2", want: Location{Kind: KindTar, Path: "/x/app.tar", Tag: "v2"}},
		"tar tag + digest":      {in: "tar:app.tar:v2@" + testDigest, want: Location{Kind: KindTar, Path: "app.tar", Tag: "v2", Digest: testDigest}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseLocation(tt.in)
			if err != nil {
				t.Fatalf("ParseLocation(%q): %v", tt.in, err)
			}
			if got.Kind != tt.want.Kind || got.Path != tt.want.Path || got.Tag != tt.want.Tag || got.Digest != tt.want.Digest {
				t.Fatalf("ParseLocation(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if tt.repo != "" && got.Ref.Repo() != tt.repo {
				t.Errorf("repository = %q, want %q", got.Ref.Repo(), tt.repo)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseLocationRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no scheme":        "registry.example/app:1",
		"other scheme":     "docker://registry.example/app:1",
		"empty layout":     "oci-layout:",
		"tag only":         "tar::v1",
		"bad tag":          "oci-layout:./out:bad?tag",
		"long tag":         "tar:x.tar:" + strings.Repeat("a", 129),
		"bad digest":       "oci-layout:./out@sha256:nothex",
		"digest only":      "tar:@" + testDigest,
		"nul in path":      "oci-layout:a\x00b",
		"registry no repo": "oci://registry.example",
		"registry upper":   "oci://registry.example/App:1",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseLocation(in)
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("ParseLocation(%q) = %v, want ErrInvalidReference", in, err)
			}
			if !strings.Contains(err.Error(), "invalid reference") {
				t.Errorf("error %q does not say what is wrong", err)
			}
		})
	}
}

// FuzzParseLocation checks that no input panics, that what parses is well
// formed, and that it prints back to a string that parses the same way.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{
		"oci://127.0.0.1:5000/team/app:1.4.2", "oci://r.example/app@" + testDigest,
		"oci-layout:./out:1.4.2", "oci-layout:/a:b/c", "tar:app.tar@" + testDigest,
		"tar::", "oci-layout:@", "tar:a:b:c", "oci-layout:x@y@" + testDigest,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocation(s)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("ParseLocation(%q): error %v does not wrap ErrInvalidReference", s, err)
			}
			return
		}
		if loc.Tag != "" && validTag(loc.Tag) != nil {
			t.Fatalf("ParseLocation(%q): invalid tag %q accepted", s, loc.Tag)
		}
		switch loc.Kind {
		case KindRegistry:
		case KindLayout, KindTar:
			if loc.Path == "" || strings.ContainsRune(loc.Path, 0) {
				t.Fatalf("ParseLocation(%q): bad path %q accepted", s, loc.Path)
			}
		default:
			t.Fatalf("ParseLocation(%q): kind %d", s, loc.Kind)
		}
		again, err := ParseLocation(loc.String())
		if err != nil {
			t.Fatalf("ParseLocation(%q).String() = %q does not parse: %v", s, loc.String(), err)
		}
		if again.Kind != loc.Kind || again.Tag != loc.Tag || again.Digest != loc.Digest || again.Path != loc.Path || again.Ref != loc.Ref {
			t.Fatalf("round trip of %q: %+v, then %+v", s, loc, again)
		}
	})
}
