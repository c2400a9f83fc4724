package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
	"github.com/sealift-dev/sealift/pull"
)

// maxSyncFileBytes caps a Sync file read from disk; a Sync is a few hundred bytes.
const maxSyncFileBytes = 1 << 20

// LoadFile reads and validates one Sync document. Relative key and trust-root
// paths in it are resolved against the file's directory.
func LoadFile(path string) (*Sync, error) {
	data, err := fsutil.ReadFile(path, maxSyncFileBytes)
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

// Parse decodes and validates one Sync document, rejecting unknown fields.
func Parse(data []byte) (*Sync, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("expected one Sync document, found %d: %w", len(docs), errdef.ErrInvalidObject)
	}
	data = docs[0]
	var s Sync
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("decode Sync: %v: %w", err, errdef.ErrInvalidObject)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Namespace == "" {
		s.Namespace = "default"
	}
	return &s, nil
}

// Validate checks the parts of a Sync this version acts on, naming the field
// at fault.
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
	if !strings.HasPrefix(s.Spec.Source.URL, "oci://") {
		return bad("spec.source.url", "must start with oci://, got %q", s.Spec.Source.URL)
	}
	set := 0
	for _, v := range []string{s.Spec.Source.Ref.Tag, s.Spec.Source.Ref.Semver, s.Spec.Source.Ref.Digest} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return bad("spec.source.ref", "set only one of tag, semver and digest")
	}
	if _, err := s.reference(); err != nil {
		return fmt.Errorf("Sync %q: %w: %w", s.Name, err, errdef.ErrInvalidObject)
	}
	if r := s.Spec.Source.Ref; r.Semver != "" || r.SemverFilter != "" {
		if r.Semver == "" {
			return bad("spec.source.ref.semverFilter", "needs spec.source.ref.semver")
		}
		if err := pull.ValidateSemver(r.Semver, r.SemverFilter); err != nil {
			return bad("spec.source.ref.semver", "%v", err)
		}
	}
	for i, m := range s.Spec.Source.Mirrors {
		if !strings.HasPrefix(m.URL, "oci://") {
			return bad(fmt.Sprintf("spec.source.mirrors[%d].url", i), "must start with oci://, got %q", m.URL)
		}
	}
	switch s.Spec.Verify.Mode {
	case "", "enforce", "audit":
	default:
		return bad("spec.verify.mode", "must be enforce or audit, got %q", s.Spec.Verify.Mode)
	}
	if s.Spec.Verify.Threshold < 0 {
		return bad("spec.verify.threshold", "must not be negative")
	}
	for i, k := range s.Spec.Verify.Keys {
		n := 0
		if k.Path != "" {
			n++
		}
		if k.PEM != "" {
			n++
		}
		if k.SecretRef != nil {
			n++
		}
		if n != 1 {
			return bad(fmt.Sprintf("spec.verify.keys[%d]", i), "set exactly one of path, pem and secretRef")
		}
	}
	switch s.Spec.Adopt {
	case "", "adopt", "refuse":
	default:
		return bad("spec.adopt", "must be adopt or refuse (or unset: adopt objects no Sync owns), got %q", s.Spec.Adopt)
	}
	if b := s.Spec.PruneBudget; b != nil && (b.MaxDeletes < 0 || b.MaxPercent < -1 || b.MaxPercent > 100) {
		return bad("spec.pruneBudget", "maxDeletes must be >= 0 and maxPercent between -1 and 100")
	}
	switch s.Spec.Drift {
	case "", "correct", "detect":
	default:
		return bad("spec.drift", "must be correct or detect, got %q", s.Spec.Drift)
	}
	return nil
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
