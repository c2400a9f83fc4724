package v1alpha1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
)

// MaxSyncFileBytes caps a Sync file read from disk; a Sync is a few hundred bytes.
const MaxSyncFileBytes = 1 << 20

// urlScheme starts every source and mirror URL.
const urlScheme = "oci://"

// The schema's patterns and enums (the markers in sync_types.go), checked
// the same way by Validate.
var (
	digestPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[a-f0-9]{64}$`) })
	tagPattern    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`) })
	// mirrorPattern is the schema's pattern of an image mirror's from and
	// to: a registry host with its port, then an optional path prefix.
	mirrorPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]+)?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*$`)
	})
	verifyModes   = []VerifyMode{VerifyEnforce, VerifyAudit}
	driftModes    = []DriftMode{DriftCorrect, DriftDetect}
	adoptPolicies = []AdoptPolicy{AdoptAlways, AdoptNever}
)

// LoadFile reads, validates and defaults one Sync document. Relative key and
// trust-root paths in it are resolved against the file's directory.
func LoadFile(path string) (*Sync, error) {
	data, err := fsutil.ReadFile(path, MaxSyncFileBytes)
	if err != nil {
		return nil, fmt.Errorf("sync file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("sync file %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("sync file %s: %w", path, err)
	}
	s.resolvePaths(abs)
	return s, nil
}

// Parse decodes, validates and defaults one Sync document, rejecting
// unknown fields. Errors wrap errdef.ErrInvalidObject.
func Parse(data []byte) (*Sync, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("expected one Sync document, found %d: %w", len(docs), errdef.ErrInvalidObject)
	}
	var s Sync
	if err := yaml.UnmarshalStrict(docs[0], &s); err != nil {
		return nil, fmt.Errorf("decode Sync: %v: %w", err, errdef.ErrInvalidObject)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s.Default()
	return &s, nil
}

// Validate checks what the CRD schema checks, and what it cannot (a semver
// constraint that parses, a filter that compiles), naming the field at
// fault. Errors wrap errdef.ErrInvalidObject.
func (s *Sync) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("Sync %q: %s: %s: %w", s.Name, field, fmt.Sprintf(format, args...), errdef.ErrInvalidObject)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		return fmt.Errorf("expected apiVersion %s and kind %s, got %q %q: %w", APIVersion, Kind, s.APIVersion, s.Kind, errdef.ErrInvalidObject)
	}
	if s.Name == "" {
		return bad("metadata.name", "required")
	}
	spec := &s.Spec
	if spec.Prune && s.Namespace == "" {
		// The namespace is the Sync's identity for its ownership labels, its
		// inventory and its cached revisions: two Sync files with the same
		// name and no namespace would otherwise prune each other's objects.
		return bad("metadata.namespace", "required when spec.prune is true, so that the Sync's identity (ownership labels, inventory, cached revision) is explicit")
	}
	if !validURL(spec.Source.URL) {
		return bad("spec.source.url", "must start with %s and name a repository, got %q", urlScheme, spec.Source.URL)
	}
	if r := spec.Source.Ref; r != nil {
		if err := r.validate(); err != nil {
			return bad("spec.source.ref", "%v", err)
		}
		if urlNamesRevision(spec.Source.URL) {
			return bad("spec.source.url", "%q names a tag or digest and spec.source.ref selects a revision too; keep one of them", spec.Source.URL)
		}
	}
	for i, m := range spec.Source.Mirrors {
		if !validURL(m.URL) {
			return bad(fmt.Sprintf("spec.source.mirrors[%d].url", i), "must start with %s and name a repository, got %q", urlScheme, m.URL)
		}
	}
	if r := spec.Source.SecretRef; r != nil && r.Name == "" {
		return bad("spec.source.secretRef.name", "required")
	}
	if r := spec.Source.CertSecretRef; r != nil && r.Name == "" {
		return bad("spec.source.certSecretRef.name", "required")
	}
	if m := spec.Verify.Mode; m != "" && !slices.Contains(verifyModes, m) {
		return bad("spec.verify.mode", "must be %s or %s, got %q", VerifyEnforce, VerifyAudit, m)
	}
	if spec.Verify.Threshold < 0 {
		return bad("spec.verify.threshold", "must be at least 1 (or unset for 1), got %d", spec.Verify.Threshold)
	}
	for i, k := range spec.Verify.Keys {
		n := 0
		for _, set := range []bool{k.Path != "", k.PEM != "", k.SecretRef != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return bad(fmt.Sprintf("spec.verify.keys[%d]", i), "set exactly one of path, pem and secretRef")
		}
	}
	for i, r := range spec.Verify.Repositories {
		if r == "" {
			return bad(fmt.Sprintf("spec.verify.repositories[%d]", i), "must not be empty")
		}
	}
	if a := spec.Adopt; a != AdoptUnowned && !slices.Contains(adoptPolicies, a) {
		return bad("spec.adopt", "must be %s or %s (or unset: adopt objects no Sync owns), got %q", AdoptAlways, AdoptNever, a)
	}
	if b := spec.PruneBudget; b != nil && (b.MaxDeletes < 0 || b.MaxPercent < -1 || b.MaxPercent > 100) {
		return bad("spec.pruneBudget", "maxDeletes must be >= 0 and maxPercent between -1 and 100")
	}
	if d := spec.Drift; d != "" && !slices.Contains(driftModes, d) {
		return bad("spec.drift", "must be %s or %s, got %q", DriftCorrect, DriftDetect, d)
	}
	for _, d := range []struct {
		field string
		d     *metav1.Duration
	}{{"spec.timeout", spec.Timeout}, {"spec.interval", spec.Interval}, {"spec.retryInterval", spec.RetryInterval}} {
		if d.d != nil && d.d.Duration < 0 {
			return bad(d.field, "must not be negative, got %s", d.d.Duration)
		}
	}
	for i, d := range spec.DependsOn {
		if d.Name == "" {
			return bad(fmt.Sprintf("spec.dependsOn[%d].name", i), "required")
		}
	}
	if spec.Images != nil {
		froms := map[string]bool{}
		for i, m := range spec.Images.Mirrors {
			for _, f := range []struct{ name, v string }{{"from", m.From}, {"to", m.To}} {
				if !validMirrorPrefix(f.v) {
					return bad(fmt.Sprintf("spec.images.mirrors[%d].%s", i, f.name), "must be a registry host (with a '.' or ':', or localhost), optionally followed by a repository path, e.g. docker.io or mirror.internal:5000/hub; got %q", f.v)
				}
			}
			if froms[m.From] {
				return bad(fmt.Sprintf("spec.images.mirrors[%d].from", i), "%q is given twice", m.From)
			}
			froms[m.From] = true
		}
	}
	return nil
}

// validMirrorPrefix checks an image mirror's from or to: the schema's
// pattern, and a first element that names a registry host, as image
// references read it.
func validMirrorPrefix(p string) bool {
	if !mirrorPattern().MatchString(p) {
		return false
	}
	host, _, _ := strings.Cut(p, "/")
	return strings.ContainsAny(host, ".:") || host == "localhost"
}

// validate checks that exactly one of tag, semver and digest is set, in its
// form, as the schema's CEL rule does.
func (r *Ref) validate() error {
	set := 0
	for _, v := range []string{r.Tag, r.Semver, r.Digest} {
		if v != "" {
			set++
		}
	}
	switch {
	case set != 1:
		return errors.New("set exactly one of tag, semver and digest")
	case r.Tag != "" && !tagPattern().MatchString(r.Tag):
		return fmt.Errorf("tag %q is not a valid tag", r.Tag)
	case r.Digest != "" && !digestPattern().MatchString(r.Digest):
		return fmt.Errorf("digest %q is not sha256: and 64 lowercase hex digits", r.Digest)
	case r.SemverFilter != "" && r.Semver == "":
		return errors.New("semverFilter needs semver")
	}
	if r.Semver != "" {
		if _, err := semver.NewConstraint(r.Semver); err != nil {
			return fmt.Errorf("semver constraint %q: %v", r.Semver, err)
		}
	}
	if r.SemverFilter != "" {
		if _, err := regexp.Compile(r.SemverFilter); err != nil {
			return fmt.Errorf("semverFilter %q: %v", r.SemverFilter, err)
		}
	}
	return nil
}

func validURL(u string) bool {
	return strings.HasPrefix(u, urlScheme) && len(u) > len(urlScheme)
}

func (s *Sync) resolvePaths(base string) {
	for i, k := range s.Spec.Verify.Keys {
		if k.Path != "" && !filepath.IsAbs(k.Path) {
			s.Spec.Verify.Keys[i].Path = filepath.Join(base, k.Path)
		}
	}
	if tr := s.Spec.Verify.TrustedRoot; tr != nil && tr.Path != "" && !filepath.IsAbs(tr.Path) {
		tr.Path = filepath.Join(base, tr.Path)
	}
}

// splitDocuments returns the non-empty YAML documents in data.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read Sync document: %v: %w", err, errdef.ErrInvalidObject)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

// stripComments drops whole-line comments, so a document of comments alone counts as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// urlNamesRevision reports whether an oci:// URL carries a tag (":tag") or a
// digest ("@sha256:...") after its repository path; a port belongs to the
// host, before the first "/".
func urlNamesRevision(u string) bool {
	_, path, ok := strings.Cut(strings.TrimPrefix(u, urlScheme), "/")
	return ok && strings.ContainsAny(path, ":@")
}
