package pull_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// tagList is a registry.TagLister over a fixed list, served in pages of
// two the way a registry pages its answer.
type tagList []string

func (l tagList) Tags(_ context.Context, _ string, fn func([]string) error) error {
	for i := 0; i < len(l); i += 2 {
		if err := fn(l[i:min(i+2, len(l))]); err != nil {
			return err
		}
	}
	return nil
}

func TestResolveSemver(t *testing.T) {
	tags := tagList{"latest", "1.0.0", "v1.4.2", "1.4.10", "2.0.0-rc.1", "2.0.0", "main-abc123", "1.5", "v1.5.0", "app-3.1.0"}
	tests := []struct {
		constraint, filter, want string
	}{
		{">=1.0.0 <2.0.0", "", "v1.5.0"},
		{"~1.4", "", "1.4.10"},
		{"1.4.2", "", "v1.4.2"},
		{">=1.0.0", "", "2.0.0"},
		{">=2.0.0-0", "", "2.0.0"},
		{"2.0.0-rc.1", "", "2.0.0-rc.1"},
		{"<1.4.0", "", "1.0.0"},
		{"*", `^v`, "v1.5.0"},
		{">=1.0.0", `^1\.4\.`, "1.4.10"},
		{">=3", "", ""},
		{"^1", `^nothing$`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.constraint+" "+tc.filter, func(t *testing.T) {
			got, err := pull.ResolveSemver(context.Background(), tags, tc.constraint, tc.filter)
			if tc.want == "" {
				if !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), tc.constraint) {
					t.Fatalf("got %q, %v; want ErrNotFound naming the constraint", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestResolveSemverInvalid(t *testing.T) {
	for name, tc := range map[string][2]string{
		"empty constraint": {"", ""},
		"bad constraint":   {">=one", ""},
		"bad filter":       {"*", "("},
	} {
		t.Run(name, func(t *testing.T) {
			if err := pull.ValidateSemver(tc[0], tc[1]); !errors.Is(err, errdef.ErrInvalidReference) {
				t.Errorf("ValidateSemver: %v", err)
			}
			_, err := pull.ResolveSemver(context.Background(), tagList{"1.0.0"}, tc[0], tc[1])
			if !errors.Is(err, errdef.ErrInvalidReference) || !errdef.IsTerminal(err) {
				t.Errorf("ResolveSemver: %v", err)
			}
		})
	}
}

// endless lists tags forever.
type endless struct{}

func (endless) Tags(ctx context.Context, _ string, fn func([]string) error) error {
	for i := 0; ; i++ {
		if err := fn([]string{fmt.Sprintf("1.0.%d", i)}); err != nil {
			return err
		}
	}
}

func TestResolveSemverTooManyTags(t *testing.T) {
	_, err := pull.ResolveSemver(context.Background(), endless{}, "*", "")
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
}

func TestResolveSemverRegistry(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	ref, repo := reg.Repository(t, "team/app", "0.9.0")
	digests := map[string]string{}
	for _, tag := range []string{"0.9.0", "1.2.0", "1.10.0", "2.0.0", "latest"} {
		src := writeFiles(t, map[string]string{"v.yaml": "version: " + tag + "\n"})
		desc, err := push.Push(ctx, src, repo, tag, push.Options{})
		if err != nil {
			t.Fatal(err)
		}
		digests[tag] = desc.Digest.String()
	}
	tag, err := pull.ResolveSemver(ctx, repo, "^1.0.0", "")
	if err != nil || tag != "1.10.0" {
		t.Fatalf("ResolveSemver = %q, %v", tag, err)
	}
	ref.Tag = tag
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil || desc.Digest.String() != digests["1.10.0"] {
		t.Fatalf("resolved %v, %v; want %s", desc.Digest, err, digests["1.10.0"])
	}

	missing, err := pull.NewRepository(pull.Reference{Registry: reg.Host, Repository: "team/none"}, pull.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pull.ResolveSemver(ctx, missing, "*", ""); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("missing repository: %v", err)
	}
}

func ExampleResolveSemver() {
	tags := tagList{"1.0.0", "1.4.2", "v1.5.0", "2.0.0", "latest"}
	tag, err := pull.ResolveSemver(context.Background(), tags, ">=1.0.0 <2.0.0", "")
	if err != nil {
		panic(err)
	}
	fmt.Println(tag)
	// Output: v1.5.0
}

// FuzzResolveSemver feeds registry-chosen tags to the selector: whatever a
// registry lists, the answer is one of its tags and satisfies the range.
func FuzzResolveSemver(f *testing.F) {
	f.Add("1.0.0\nv1.2.3\nlatest", ">=1.0.0")
	f.Add("1.2\n1.2.0\nv1.2.0-rc.1+build", "~1.2")
	f.Add("\x00\n99999999999999999999.0.0\n-1", "*")
	f.Fuzz(func(t *testing.T, list, constraint string) {
		if pull.ValidateSemver(constraint, "") != nil {
			return
		}
		tags := tagList(strings.Split(list, "\n"))
		got, err := pull.ResolveSemver(context.Background(), tags, constraint, "")
		if err != nil {
			if !errors.Is(err, errdef.ErrNotFound) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		found := false
		for _, tag := range tags {
			found = found || tag == got
		}
		if !found {
			t.Fatalf("%q is not among the tags", got)
		}
		again, err := pull.ResolveSemver(context.Background(), tagList{got}, constraint, "")
		if err != nil || again != got {
			t.Fatalf("%q does not satisfy %q on its own: %v", got, constraint, err)
		}
	})
}
