package imagelock_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

func TestBuildAgainstRegistry(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	app := imagetest.Image(t, reg.Repo("team/app:1.0"), 512)
	latest := imagetest.Image(t, reg.Repo("team/tool:latest"), 256)
	index, _ := imagetest.Index(t, reg.Repo("team/multi:2"), 256)
	r := imagelock.RegistryResolver{PlainHTTP: []string{reg.Host}}

	uses := []imagelock.Use{
		{Object: "Deployment.apps/a", Image: reg.Repo("team/app:1.0")},
		{Object: "Deployment.apps/b", Image: reg.Repo("team/app:1.0")},
		{Object: "Job.batch/c", Image: reg.Repo("team/tool")}, // no tag: latest
		{Object: "Pod/d", Image: reg.Repo("team/multi:2")},
		{Object: "Pod/d", Image: reg.Repo("team/app@" + app.Digest.String())},
	}
	l, err := imagelock.Build(ctx, uses, r, imagelock.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ocispec.Descriptor{
		reg.Repo("team/app:1.0"):                    app,
		reg.Repo("team/tool"):                       latest,
		reg.Repo("team/multi:2"):                    index, // the index, not a platform's manifest
		reg.Repo("team/app@" + app.Digest.String()): app,
	}
	if len(l.Images) != len(want) {
		t.Fatalf("lock holds %d images, want %d: %+v", len(l.Images), len(want), l.Images)
	}
	for _, img := range l.Images {
		d, ok := img.Descriptor()
		w := want[img.Image]
		if !ok || d.Digest != w.Digest || d.MediaType != w.MediaType || d.Size != w.Size {
			t.Errorf("%s locked as %+v, want %+v", img.Image, d, w)
		}
	}
	if _, err := imagelock.Marshal(l); err != nil {
		t.Errorf("the built lock does not encode: %v", err)
	}
}

func TestBuildReportsEveryUnresolved(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	app := imagetest.Image(t, reg.Repo("team/app:1.0"), 128)
	other := "sha256:" + strings.Repeat("e", 64)
	r := imagelock.RegistryResolver{PlainHTTP: []string{reg.Host}}
	uses := []imagelock.Use{
		{Object: "Deployment.apps/a", Image: reg.Repo("team/app:1.0")},
		{Object: "Deployment.apps/a", Image: reg.Repo("team/missing:1")},
		{Object: "Job.batch/j", Image: reg.Repo("team/app:2.0")},
		{Object: "Pod/p", Image: reg.Repo("team/app@" + other)},
	}
	_, err := imagelock.Build(ctx, uses, r, imagelock.BuildOptions{})
	var ue *imagelock.UnresolvedError
	if !errors.As(err, &ue) {
		t.Fatalf("Build = %v, want *UnresolvedError", err)
	}
	if len(ue.Images) != 3 {
		t.Fatalf("reported %d images, want 3: %v", len(ue.Images), err)
	}
	for _, s := range []string{"team/missing:1 (used by Deployment.apps/a)", "team/app:2.0 (used by Job.batch/j)", "team/app@" + other + " (used by Pod/p)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q:\n%v", s, err)
		}
	}
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("error does not wrap ErrNotFound: %v", err)
	}

	l, err := imagelock.Build(ctx, uses, r, imagelock.BuildOptions{AllowUnresolved: true})
	if err != nil {
		t.Fatal(err)
	}
	byImage := map[string]imagelock.Image{}
	for _, img := range l.Images {
		byImage[img.Image] = img
	}
	if e := byImage[reg.Repo("team/app:1.0")]; e.Unresolved || e.Digest != app.Digest.String() {
		t.Errorf("resolvable image recorded as %+v", e)
	}
	if e := byImage[reg.Repo("team/missing:1")]; !e.Unresolved || e.Digest != "" {
		t.Errorf("missing tag recorded as %+v, want unresolved without digest", e)
	}
	if e := byImage[reg.Repo("team/app@"+other)]; !e.Unresolved || e.Digest != other {
		t.Errorf("missing digest recorded as %+v, want unresolved with its digest", e)
	}
	if _, err := imagelock.Marshal(l); err != nil {
		t.Errorf("the lock does not encode: %v", err)
	}
}

func TestBuildRefusesBadAnswers(t *testing.T) {
	ctx := context.Background()
	uses := []imagelock.Use{{Object: "Pod/p", Image: "ghcr.io/acme/api@" + dgst}}
	tests := map[string]struct {
		desc ocispec.Descriptor
		want error
	}{
		"another digest": {ocispec.Descriptor{MediaType: manifestType, Digest: dgst2, Size: 10}, errdef.ErrDigestMismatch},
		"a blob":         {ocispec.Descriptor{MediaType: "application/octet-stream", Digest: dgst, Size: 10}, errdef.ErrUnsupportedMediaType},
		"huge":           {ocispec.Descriptor{MediaType: manifestType, Digest: dgst, Size: 1 << 40}, errdef.ErrSizeExceedsLimit},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := imagelock.ResolverFunc(func(context.Context, imagelock.Reference) (ocispec.Descriptor, error) { return tt.desc, nil })
			if _, err := imagelock.Build(ctx, uses, r, imagelock.BuildOptions{}); !errors.Is(err, tt.want) {
				t.Fatalf("Build = %v, want %v", err, tt.want)
			}
		})
	}
	bad := []imagelock.Use{{Object: "Pod/p", Image: "UPPER/case:x:y"}}
	_, err := imagelock.Build(ctx, bad, imagelock.ResolverFunc(nil), imagelock.BuildOptions{AllowUnresolved: true})
	if !errors.Is(err, errdef.ErrInvalidReference) || !strings.Contains(err.Error(), "Pod/p") {
		t.Fatalf("Build of a malformed reference = %v, want ErrInvalidReference naming the object", err)
	}
}
