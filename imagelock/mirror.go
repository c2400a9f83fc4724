package imagelock

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/sealift-dev/sealift/errdef"
)

// Mirror is one relocation rule: an image whose normalised name is From, or
// starts with From followed by "/", is pulled from To followed by the rest
// of its name. {From: docker.io, To: mirror.internal:5000} sends
// docker.io/library/nginx to mirror.internal:5000/library/nginx;
// {From: docker.io/library, To: mirror.internal:5000/hub} sends it to
// mirror.internal:5000/hub/nginx.
type Mirror struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Mirrors is a checked set of rules (NewMirrors). The longest From that
// matches a name wins, so a rule for docker.io/library overrides one for
// docker.io.
type Mirrors struct {
	rules []Mirror
}

// NewMirrors checks rules: From and To are each a registry host (a name
// holding a '.' or ':', or "localhost"), optionally followed by a repository
// path prefix, with no scheme, tag or digest; index.docker.io is read as
// docker.io, the name normalised references carry. No two rules share a
// From. Errors wrap errdef.ErrInvalidReference and name the rule.
func NewMirrors(rules []Mirror) (Mirrors, error) {
	out := Mirrors{rules: make([]Mirror, 0, len(rules))}
	seen := map[string]bool{}
	for i, m := range rules {
		from, err := checkPrefix(m.From)
		if err != nil {
			return Mirrors{}, fmt.Errorf("image mirror %d: from: %w", i, err)
		}
		to, err := checkPrefix(m.To)
		if err != nil {
			return Mirrors{}, fmt.Errorf("image mirror %d: to: %w", i, err)
		}
		if seen[from] {
			return Mirrors{}, fmt.Errorf("%w: image mirror %d: from %q is given twice", errdef.ErrInvalidReference, i, m.From)
		}
		seen[from] = true
		out.rules = append(out.rules, Mirror{From: from, To: to})
	}
	return out, nil
}

// Len is the number of rules.
func (ms Mirrors) Len() int { return len(ms.rules) }

// Match returns the rule for r's name, the one with the longest matching
// From, and whether there is one.
func (ms Mirrors) Match(r Reference) (Mirror, bool) {
	name := r.Name()
	var best Mirror
	found := false
	for _, m := range ms.rules {
		if name != m.From && !strings.HasPrefix(name, m.From+"/") {
			continue
		}
		if !found || len(m.From) > len(best.From) {
			best, found = m, true
		}
	}
	return best, found
}

// Relocate returns r at the rule's mirror: To followed by what follows From
// in r's name, with r's tag and digest. The result is parsed again, so a
// name the mirror cannot hold (too long, say) is an error.
func (m Mirror) Relocate(r Reference) (Reference, error) {
	rest := strings.TrimPrefix(r.Name(), m.From)
	if rest == "" && !strings.Contains(m.To, "/") {
		return Reference{}, fmt.Errorf("%w: relocate %s to %s: no repository path is left below the host", errdef.ErrInvalidReference, r, m.To)
	}
	s := m.To + rest
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	out, err := ParseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("relocate %s to %s: %w", r, m.To, err)
	}
	if host, _, _ := strings.Cut(m.To, "/"); out.Domain != host {
		return Reference{}, fmt.Errorf("%w: relocate %s to %s: the result %s is not on %s", errdef.ErrInvalidReference, r, m.To, out, host)
	}
	return out, nil
}

// checkPrefix checks and normalises a rule's From or To.
func checkPrefix(p string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q: %s", errdef.ErrInvalidReference, p, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case strings.Contains(p, "://"):
		return bad("a registry host and path, without a scheme")
	case strings.HasSuffix(p, "/"):
		return bad("ends with '/'")
	case strings.ContainsAny(p, "@"):
		return bad("a repository prefix holds no digest")
	}
	host, path, _ := strings.Cut(p, "/")
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return bad("must start with a registry host (holding a '.' or ':', or localhost), e.g. docker.io or mirror.internal:5000")
	}
	if host == "index.docker.io" {
		host = "docker.io"
	}
	norm := host
	if path != "" {
		norm += "/" + path
	}
	// A prefix is valid when a repository below it is: parse one without
	// the docker.io normalisation, which would read a prefix as a name.
	parsed, err := reference.Parse(norm + "/x")
	if err != nil {
		return bad(err.Error())
	}
	named, ok := parsed.(reference.Named)
	if _, tagged := parsed.(reference.Tagged); !ok || tagged || reference.Domain(named) != host {
		return bad("a registry host and repository path prefix, without a tag")
	}
	return norm, nil
}
