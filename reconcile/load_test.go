package reconcile_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/reconcile"
)

func TestLoadFileExample(t *testing.T) {
	s, err := reconcile.LoadFile("../examples/podinfo/sync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Key() != "sealift-system/podinfo" || s.Spec.Source.Ref.Tag != "6.7.1" {
		t.Errorf("parsed %s with tag %q", s.Key(), s.Spec.Source.Ref.Tag)
	}
	abs, _ := filepath.Abs("../examples/podinfo/cosign.pub")
	if got := s.Spec.Verify.Keys[0].Path; got != abs {
		t.Errorf("key path %q, want it resolved against the file's directory: %q", got, abs)
	}
}

func TestParseRejects(t *testing.T) {
	const head = "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\n"
	tests := map[string]struct {
		doc  string
		want string
	}{
		"wrong kind":             {"apiVersion: sealift.dev/v1alpha1\nkind: Other\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n", "expected apiVersion"},
		"no name":                {"apiVersion: sealift.dev/v1alpha1\nkind: Sync\nspec: {source: {url: oci://r/x}}\n", "metadata.name"},
		"no scheme":              {head + "spec: {source: {url: r/x}}\n", "spec.source.url"},
		"two refs":               {head + "spec: {source: {url: oci://r/x, ref: {tag: a, digest: 'sha256:00'}}}\n", "spec.source.ref"},
		"url tag and ref tag":    {head + "spec: {source: {url: 'oci://r/x:latest', ref: {tag: '1.0'}}}\n", "names a tag or digest and spec.source.ref"},
		"url tag and semver":     {head + "spec: {source: {url: 'oci://r/x:1.0', ref: {semver: '^1'}}}\n", "names a tag or digest and spec.source.ref"},
		"url digest and ref tag": {head + "spec: {source: {url: 'oci://r/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', ref: {tag: '1.0'}}}\n", "names a tag or digest and spec.source.ref"},
		"bad url":                {head + "spec: {source: {url: 'oci://r/X'}}\n", "spec.source.url"},
		"bad ref tag":            {head + "spec: {source: {url: 'oci://r/x', ref: {tag: '-no'}}}\n", "invalid reference"},
		"unknown field":          {head + "spec: {source: {url: oci://r/x}, prunee: true}\n", "prunee"},
		"bad mode":               {head + "spec: {source: {url: oci://r/x}, verify: {mode: maybe}}\n", "spec.verify.mode"},
		"key with two ways":      {head + "spec: {source: {url: oci://r/x}, verify: {keys: [{path: a, pem: b}]}}\n", "spec.verify.keys[0]"},
		"bad drift":              {head + "spec: {source: {url: oci://r/x}, drift: fix}\n", "spec.drift"},
		"bad adopt":              {head + "spec: {source: {url: oci://r/x}, adopt: always}\n", "spec.adopt"},
		"bad prune budget":       {head + "spec: {source: {url: oci://r/x}, pruneBudget: {maxPercent: 150}}\n", "spec.pruneBudget"},
		"two documents":          {head + "spec: {source: {url: oci://r/x}}\n---\n" + head + "spec: {source: {url: oci://r/y}}\n", "found 2"},
		"not yaml":               {"{{{", "decode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := reconcile.Parse([]byte(tc.doc))
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("err = %v, want ErrInvalidObject", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestParseAcceptsSourceForms: the revision is named once, by the url or
// by spec.source.ref, or not at all (latest).
func TestParseAcceptsSourceForms(t *testing.T) {
	const head = "apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\n"
	for name, source := range map[string]string{
		"bare url":            "{url: 'oci://r/x'}",
		"bare url and tag":    "{url: 'oci://r/x', ref: {tag: '1.0'}}",
		"bare url and semver": "{url: 'oci://r/x', ref: {semver: '^1', semverFilter: '^1'}}",
		"bare url and digest": "{url: 'oci://r/x', ref: {digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}}",
		"url with tag":        "{url: 'oci://r/x:latest'}",
		"url with digest":     "{url: 'oci://r/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}",
		"insecure mirror":     "{url: 'oci://r/x', mirrors: [{url: 'oci://m/x', insecure: true}]}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := reconcile.Parse([]byte(head + "spec: {source: " + source + "}\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseAcceptsTrailingSeparatorAndComments(t *testing.T) {
	doc := "# a sync\n---\napiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n---\n# end\n"
	s, err := reconcile.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace != "default" {
		t.Errorf("namespace %q, want default", s.Namespace)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: sealift.dev/v1alpha1\nkind: Sync\nmetadata: {name: x}\nspec: {source: {url: oci://r/x}}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("spec: {verify: {keys: [{}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := reconcile.Parse(data)
		if err == nil {
			if verr := s.Validate(); verr != nil {
				t.Fatalf("Parse accepted a Sync that Validate rejects: %v", verr)
			}
		}
	})
}
