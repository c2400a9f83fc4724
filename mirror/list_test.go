package mirror

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

const listHead = "apiVersion: sealift.dev/v1alpha1\nkind: MirrorList\n"

func TestParseList(t *testing.T) {
	l, err := ParseList([]byte(listHead + `artifacts:
- {repository: oci://registry.example/team/app, tag: 1.4.2, images: true}
- {repository: registry.example/team/db, semver: "~2.3", semverFilter: "^v"}
- {repository: registry.example/team/app, digest: "sha256:` + strings.Repeat("a", 64) + `"}
`))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := l.Artifacts[0].Reference()
	if err != nil || ref.String() != "registry.example/team/app:1.4.2" || !l.Artifacts[0].Images {
		t.Errorf("entry 0: %v, %v", ref, err)
	}
	if ref, _ := l.Artifacts[1].Reference(); !ref.IsBare() {
		t.Errorf("a semver entry's reference %v names a revision", ref)
	}
}

func TestParseListRefuses(t *testing.T) {
	entry := func(s string) string { return listHead + "artifacts:\n- " + s + "\n" }
	var many strings.Builder
	many.WriteString(listHead + "artifacts:\n")
	for i := range limits.MaxMirrorListEntries + 1 {
		fmt.Fprintf(&many, "- {repository: r.example/a%d, tag: x}\n", i)
	}
	tests := map[string]struct {
		data string
		want error
	}{
		"empty":             {"", errdef.ErrInvalidManifest},
		"wrong kind":        {"apiVersion: sealift.dev/v1alpha1\nkind: Sync\nartifacts: []\n", errdef.ErrInvalidManifest},
		"no artifacts":      {listHead + "artifacts: []\n", errdef.ErrInvalidManifest},
		"unknown field":     {entry("{repository: r.example/a, tag: x, platform: y}"), errdef.ErrInvalidManifest},
		"no selector":       {entry("{repository: r.example/a}"), errdef.ErrInvalidManifest},
		"two selectors":     {entry("{repository: r.example/a, tag: x, semver: '1'}"), errdef.ErrInvalidManifest},
		"tag in repository": {entry("{repository: 'r.example/a:1', tag: x}"), errdef.ErrInvalidManifest},
		"bad repository":    {entry("{repository: 'R.example/A', tag: x}"), errdef.ErrInvalidManifest},
		"no host":           {entry("{repository: app, tag: x}"), errdef.ErrInvalidManifest},
		"bad tag":           {entry("{repository: r.example/a, tag: '-x'}"), errdef.ErrInvalidManifest},
		"bad digest":        {entry("{repository: r.example/a, digest: 'sha256:1'}"), errdef.ErrInvalidManifest},
		"bad semver":        {entry("{repository: r.example/a, semver: 'not a range'}"), errdef.ErrInvalidManifest},
		"filter alone":      {entry("{repository: r.example/a, tag: x, semverFilter: '^v'}"), errdef.ErrInvalidManifest},
		"listed twice":      {listHead + "artifacts:\n- {repository: r.example/a, tag: x}\n- {repository: oci://r.example/a, tag: x}\n", errdef.ErrInvalidManifest},
		"too many":          {many.String(), errdef.ErrSizeExceedsLimit},
		"too large":         {listHead + "#" + strings.Repeat("x", int(limits.MaxMirrorListBytes)), errdef.ErrSizeExceedsLimit},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseList([]byte(tt.data)); !errors.Is(err, tt.want) {
				t.Fatalf("ParseList = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte(listHead + "artifacts:\n- {repository: r.example/a, tag: x, images: true}\n"))
	f.Add([]byte(listHead + "artifacts:\n- {repository: r.example/a, semver: '>=1 <2'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseList(data)
		if err != nil {
			return
		}
		for _, e := range l.Artifacts {
			if _, err := e.Reference(); err != nil {
				t.Fatalf("an accepted entry has no reference: %v", err)
			}
		}
	})
}

func TestParseDestination(t *testing.T) {
	for in, want := range map[string]string{
		"oci://mirror.internal:5000":      "oci://mirror.internal:5000",
		"oci://mirror.internal:5000/edge": "oci://mirror.internal:5000/edge",
		"tar:release.tar":                 "tar:release.tar",
		"oci-layout:./site":               "oci-layout:./site",
	} {
		loc, err := ParseDestination(in)
		if err != nil || destinationString(loc) != want {
			t.Errorf("ParseDestination(%q) = %v, %v", in, destinationString(loc), err)
		}
	}
	for _, in := range []string{"oci://", "oci:///edge", "oci://m.internal/Edge", "oci://m.internal/a:1", "tar:x.tar:1", "oci-layout:d@sha256:" + strings.Repeat("a", 64), "https://m.internal"} {
		if _, err := ParseDestination(in); !errors.Is(err, errdef.ErrInvalidReference) {
			t.Errorf("ParseDestination(%q) = %v, want ErrInvalidReference", in, err)
		}
	}
}

// TestReleaseEntriesRefuses is the table of index.json entries a release
// must not place: names that disagree with their repository, paths that
// are not repository paths, unknown kinds.
func TestReleaseEntriesRefuses(t *testing.T) {
	d := digest.FromString("x")
	entry := func(kind, name, repo string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 1, Annotations: map[string]string{
			AnnotationKind: kind, ocispec.AnnotationRefName: name, AnnotationRepository: repo,
		}}
	}
	tests := map[string]ocispec.Descriptor{
		"unknown kind":       entry("script", "a:1", "a"),
		"name elsewhere":     entry(EntryArtifact, "other/app:1", "team/app"),
		"dot-dot repository": entry(EntryArtifact, "../etc:1", "../etc"),
		"empty repository":   entry(EntryArtifact, ":1", ""),
		"bad tag":            entry(EntryArtifact, "team/app:-1", "team/app"),
		"image by tag":       entry(EntryImage, "library/web:1", "library/web"),
		"upper case":         entry(EntryImage, "Library/Web@"+d.String(), "Library/Web"),
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ReleaseEntries([]ocispec.Descriptor{e}); !errors.Is(err, errdef.ErrInvalidManifest) {
				t.Fatalf("ReleaseEntries = %v, want ErrInvalidManifest", err)
			}
		})
	}
	ok := []ocispec.Descriptor{
		entry(EntryImage, "library/web@"+d.String(), "library/web"),
		entry(EntryArtifact, "team/app:1.0", "team/app"),
		{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 1, Annotations: map[string]string{ocispec.AnnotationRefName: "1.0"}},
	}
	got, err := ReleaseEntries(ok)
	if err != nil || len(got) != 2 || got[0].Kind != EntryArtifact || got[0].Tag != "1.0" || got[1].Kind != EntryImage {
		t.Errorf("ReleaseEntries = %+v, %v", got, err)
	}
}
