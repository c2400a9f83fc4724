package v1alpha1_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
)

func TestLoadFileExample(t *testing.T) {
	s, err := sealiftv1.LoadFile("../../examples/podinfo/sync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Key() != "sealift-system/podinfo" || s.Spec.Source.Ref.Tag != "6.7.1" {
		t.Errorf("parsed %s with tag %q", s.Key(), s.Spec.Source.Ref.Tag)
	}
	abs, _ := filepath.Abs("../../examples/podinfo/cosign.pub")
	if got := s.Spec.Verify.Keys[0].Path; got != abs {
		t.Errorf("key path %q, want it resolved against the file's directory: %q", got, abs)
	}
}

// validSync is a Sync that passes Validate; each case below changes one thing.
func validSync() *sealiftv1.Sync {
	return &sealiftv1.Sync{
		TypeMeta:   metav1.TypeMeta{APIVersion: sealiftv1.APIVersion, Kind: sealiftv1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "apps"},
		Spec: sealiftv1.SyncSpec{
			Source: sealiftv1.Source{URL: "oci://registry.example/apps/app", Ref: &sealiftv1.Ref{Tag: "1.0.0"}},
			Verify: sealiftv1.Verify{Keys: []sealiftv1.Key{{Path: "cosign.pub"}}},
		},
	}
}

func TestValidate(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name   string
		change func(s *sealiftv1.Sync)
		// field is what the error must name; empty means valid.
		field string
	}{
		{"as is", func(s *sealiftv1.Sync) {}, ""},
		{"digest ref", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Digest: digest} }, ""},
		{"semver ref with filter", func(s *sealiftv1.Sync) {
			s.Spec.Source.Ref = &sealiftv1.Ref{Semver: ">=1.0.0 <2.0.0", SemverFilter: `^v?\d+\.\d+\.\d+$`}
		}, ""},
		{"no ref: the URL's tag", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = nil }, ""},
		{"every typed value", func(s *sealiftv1.Sync) {
			s.Spec.Verify.Mode = sealiftv1.VerifyAudit
			s.Spec.Drift = sealiftv1.DriftDetect
			s.Spec.Adopt = sealiftv1.AdoptNever
			s.Spec.Verify.Threshold = 1
			s.Spec.Verify.Repositories = []string{"registry.example/apps/app"}
			s.Spec.Source.Mirrors = []sealiftv1.Mirror{{URL: "oci://mirror.internal/apps/app", Insecure: true}}
			s.Spec.AllowClusterScoped = true
			s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{Name: "base"}}
			s.Spec.Interval = &metav1.Duration{Duration: time.Minute}
			s.Spec.RetryInterval = &metav1.Duration{Duration: time.Second}
			s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxDeletes: 3, MaxPercent: -1}
		}, ""},

		{"wrong kind", func(s *sealiftv1.Sync) { s.Kind = "Kustomization" }, "expected apiVersion"},
		{"wrong version", func(s *sealiftv1.Sync) { s.APIVersion = "sealift.dev/v1" }, "expected apiVersion"},
		{"no name", func(s *sealiftv1.Sync) { s.Name = "" }, "metadata.name"},
		{"url without scheme", func(s *sealiftv1.Sync) { s.Spec.Source.URL = "registry.example/apps/app" }, "spec.source.url"},
		{"url scheme alone", func(s *sealiftv1.Sync) { s.Spec.Source.URL = "oci://" }, "spec.source.url"},
		{"empty ref", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{} }, "spec.source.ref"},
		{"tag and digest", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.Digest = digest }, "spec.source.ref"},
		{"tag and semver", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.Semver = "^1" }, "spec.source.ref"},
		{"short digest", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Digest: "sha256:00"} }, "spec.source.ref"},
		{"uppercase digest", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Digest: strings.ToUpper(digest)} }, "spec.source.ref"},
		{"bad tag", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.Tag = "-x" }, "spec.source.ref"},
		{"bad semver", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Semver: "not a version"} }, "spec.source.ref"},
		{"filter without semver", func(s *sealiftv1.Sync) { s.Spec.Source.Ref.SemverFilter = "^v" }, "spec.source.ref"},
		{"bad filter", func(s *sealiftv1.Sync) { s.Spec.Source.Ref = &sealiftv1.Ref{Semver: "^1", SemverFilter: "("} }, "spec.source.ref"},
		{"mirror without scheme", func(s *sealiftv1.Sync) { s.Spec.Source.Mirrors = []sealiftv1.Mirror{{URL: "http://m/x"}} }, "spec.source.mirrors[0].url"},
		{"secretRef without name", func(s *sealiftv1.Sync) { s.Spec.Source.SecretRef = &sealiftv1.LocalObjectReference{} }, "spec.source.secretRef.name"},
		{"bad mode", func(s *sealiftv1.Sync) { s.Spec.Verify.Mode = "maybe" }, "spec.verify.mode"},
		{"negative threshold", func(s *sealiftv1.Sync) { s.Spec.Verify.Threshold = -1 }, "spec.verify.threshold"},
		{"key with two sources", func(s *sealiftv1.Sync) { s.Spec.Verify.Keys[0].PEM = "x" }, "spec.verify.keys[0]"},
		{"key with none", func(s *sealiftv1.Sync) { s.Spec.Verify.Keys = append(s.Spec.Verify.Keys, sealiftv1.Key{}) }, "spec.verify.keys[1]"},
		{"empty repository", func(s *sealiftv1.Sync) { s.Spec.Verify.Repositories = []string{""} }, "spec.verify.repositories[0]"},
		{"bad adopt", func(s *sealiftv1.Sync) { s.Spec.Adopt = "always" }, "spec.adopt"},
		{"bad drift", func(s *sealiftv1.Sync) { s.Spec.Drift = "fix" }, "spec.drift"},
		{"prune budget over 100%", func(s *sealiftv1.Sync) { s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxPercent: 150} }, "spec.pruneBudget"},
		{"negative max deletes", func(s *sealiftv1.Sync) { s.Spec.PruneBudget = &sealiftv1.PruneBudget{MaxDeletes: -1} }, "spec.pruneBudget"},
		{"negative timeout", func(s *sealiftv1.Sync) { s.Spec.Timeout = &metav1.Duration{Duration: -time.Second} }, "spec.timeout"},
		{"negative retry interval", func(s *sealiftv1.Sync) { s.Spec.RetryInterval = &metav1.Duration{Duration: -time.Second} }, "spec.retryInterval"},
		{"dependency without name", func(s *sealiftv1.Sync) { s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{}} }, "spec.dependsOn[0].name"},
		{"image mirrors", func(s *sealiftv1.Sync) {
			s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{
				{From: "docker.io", To: "mirror.internal:5000"}, {From: "docker.io/library", To: "localhost/hub"}, {From: "[::1]:5000/a", To: "127.0.0.1:5000/b/c"},
			}}
		}, ""},
		{"image mirror without host", func(s *sealiftv1.Sync) {
			s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{{From: "library", To: "mirror.internal"}}}
		}, "spec.images.mirrors[0].from"},
		{"image mirror with a scheme", func(s *sealiftv1.Sync) {
			s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{{From: "docker.io", To: "https://mirror.internal"}}}
		}, "spec.images.mirrors[0].to"},
		{"image mirror with a tag", func(s *sealiftv1.Sync) {
			s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{{From: "docker.io/library/nginx:1", To: "m.internal"}}}
		}, "spec.images.mirrors[0].from"},
		{"image mirror from twice", func(s *sealiftv1.Sync) {
			s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{{From: "ghcr.io", To: "a.internal"}, {From: "ghcr.io", To: "b.internal"}}}
		}, "spec.images.mirrors[1].from"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSync()
			tc.change(s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("err = %v, want ErrInvalidObject", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("err %q does not name %q", err, tc.field)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	const head = "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\n"
	tests := map[string]struct {
		doc  string
		want string
	}{
		"wrong kind":              {"apiVersion: sealift.dev/v1alpha1\nkind: Other\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n", "expected apiVersion"},
		"no name":                 {"apiVersion: sealift.dev/v1alpha1\nkind: Sync\nspec: {source: {url: oci://r/x}}\n", "metadata.name"},
		"no scheme":               {head + "spec: {source: {url: r/x}}\n", "spec.source.url"},
		"two refs":                {head + "spec: {source: {url: oci://r/x, ref: {tag: a, digest: 'sha256:00'}}}\n", "spec.source.ref"},
		"empty ref":               {head + "spec: {source: {url: oci://r/x, ref: {}}}\n", "spec.source.ref"},
		"prune without namespace": {head + "spec: {source: {url: oci://r/x}, prune: true}\n", "metadata.namespace"},
		"url tag and ref tag":     {head + "spec: {source: {url: 'oci://r/x:latest', ref: {tag: '1.0'}}}\n", "names a tag or digest and spec.source.ref"},
		"url tag and semver":      {head + "spec: {source: {url: 'oci://r:5000/x:1.0', ref: {semver: '^1'}}}\n", "names a tag or digest and spec.source.ref"},
		"url digest and ref tag":  {head + "spec: {source: {url: 'oci://r/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', ref: {tag: '1.0'}}}\n", "names a tag or digest and spec.source.ref"},
		"unknown field":           {head + "spec: {source: {url: oci://r/x}, prunee: true}\n", "prunee"},
		"bad mode":                {head + "spec: {source: {url: oci://r/x}, verify: {mode: maybe}}\n", "spec.verify.mode"},
		"key with two ways":       {head + "spec: {source: {url: oci://r/x}, verify: {keys: [{path: a, pem: b}]}}\n", "spec.verify.keys[0]"},
		"bad drift":               {head + "spec: {source: {url: oci://r/x}, drift: fix}\n", "spec.drift"},
		"bad adopt":               {head + "spec: {source: {url: oci://r/x}, adopt: always}\n", "spec.adopt"},
		"bad prune budget":        {head + "spec: {source: {url: oci://r/x}, pruneBudget: {maxPercent: 150}}\n", "spec.pruneBudget"},
		"bad duration":            {head + "spec: {source: {url: oci://r/x}, interval: soon}\n", "decode"},
		"two documents":           {head + "spec: {source: {url: oci://r/x}}\n---\n" + head + "spec: {source: {url: oci://r/y}}\n", "found 2"},
		"not yaml":                {"{{{", "decode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := sealiftv1.Parse([]byte(tc.doc))
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("err = %v, want ErrInvalidObject", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestParseAcceptsTrailingSeparatorAndComments(t *testing.T) {
	doc := "# a sync\n---\napiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n---\n# end\n"
	s, err := sealiftv1.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != sealiftv1.DefaultNamespace {
		t.Errorf("namespace %q, want %s", s.Namespace, sealiftv1.DefaultNamespace)
	}
}

// TestDefault: Default fills in what is unset, keeps what is set, and is
// idempotent; Parse applies it.
func TestDefault(t *testing.T) {
	var s sealiftv1.Sync
	s.Default()
	want := sealiftv1.SyncSpec{
		Timeout: &metav1.Duration{Duration: sealiftv1.DefaultTimeout},
		Verify:  sealiftv1.Verify{Mode: sealiftv1.VerifyEnforce},
		Drift:   sealiftv1.DriftCorrect,
	}
	if s.Namespace != sealiftv1.DefaultNamespace || *s.Spec.Timeout != *want.Timeout || s.Spec.Verify.Mode != want.Verify.Mode || s.Spec.Drift != want.Drift {
		t.Errorf("defaulted zero Sync: namespace %q, spec %+v", s.Namespace, s.Spec)
	}

	set := sealiftv1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: "apps"}}
	set.Spec.Timeout = &metav1.Duration{Duration: time.Minute}
	set.Spec.Verify.Mode = sealiftv1.VerifyAudit
	set.Spec.Drift = sealiftv1.DriftDetect
	set.Default()
	set.Default()
	if set.Namespace != "apps" || set.Spec.Timeout.Duration != time.Minute || set.Spec.Verify.Mode != sealiftv1.VerifyAudit || set.Spec.Drift != sealiftv1.DriftDetect {
		t.Errorf("Default changed set values: namespace %q, spec %+v", set.Namespace, set.Spec)
	}

	p, err := sealiftv1.Parse([]byte("apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Timeout == nil || p.Spec.Timeout.Duration != sealiftv1.DefaultTimeout || p.Spec.Verify.Mode != sealiftv1.VerifyEnforce {
		t.Errorf("Parse did not default: %+v", p.Spec)
	}
}

// TestDeepCopy: the generated deep copy shares no memory with the original.
func TestDeepCopy(t *testing.T) {
	s := validSync()
	s.Spec.DependsOn = []sealiftv1.LocalObjectReference{{Name: "base"}}
	s.Status.History = []sealiftv1.HistoryEntry{{Digest: "sha256:1", Signers: []string{"key"}}}
	c := s.DeepCopy()
	c.Spec.Verify.Keys[0].Path = "other"
	c.Spec.DependsOn[0].Name = "other"
	c.Status.History[0].Signers[0] = "other"
	if s.Spec.Verify.Keys[0].Path != "cosign.pub" || s.Spec.DependsOn[0].Name != "base" || s.Status.History[0].Signers[0] != "key" {
		t.Errorf("changing the copy changed the original: %+v", s)
	}
}

// TestAPIImportsNoStage holds the pipeline's direction: the API imports no
// stage of the pipeline and nothing of sigstore, so a controller or client
// can use it without the engine.
func TestAPIImportsNoStage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test=false", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/sealift-dev/sealift/"
	forbidden := []string{"push", "pull", "verify", "cache", "render", "deploy", "reconcile", "mirror"}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.Contains(dep, "sigstore") {
			t.Errorf("api/v1alpha1 imports %s", dep)
		}
		rest, ok := strings.CutPrefix(dep, module)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		for _, f := range forbidden {
			if top == f {
				t.Errorf("api/v1alpha1 imports the pipeline package %s", dep)
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("spec: {verify: {keys: [{}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := sealiftv1.Parse(data)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Fatalf("Parse accepted a Sync that Validate rejects: %v", verr)
			}
		}
	})
}

// TestParseAcceptsSourceForms: the revision is named once, by the url or by
// spec.source.ref, or not at all (latest); a registry port is not a tag.
func TestParseAcceptsSourceForms(t *testing.T) {
	const head = "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\n"
	for name, source := range map[string]string{
		"bare url":            "{url: 'oci://r/x'}",
		"bare url and tag":    "{url: 'oci://r/x', ref: {tag: '1.0'}}",
		"port and tag":        "{url: 'oci://r:5000/x', ref: {tag: '1.0'}}",
		"bare url and semver": "{url: 'oci://r/x', ref: {semver: '^1', semverFilter: '^1'}}",
		"bare url and digest": "{url: 'oci://r/x', ref: {digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}}",
		"url with tag":        "{url: 'oci://r/x:latest'}",
		"url with digest":     "{url: 'oci://r/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}",
		"insecure mirror":     "{url: 'oci://r/x', mirrors: [{url: 'oci://m/x', insecure: true}]}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sealiftv1.Parse([]byte(head + "spec: {source: " + source + "}\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}
