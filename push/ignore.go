package push

import (
	"fmt"
	"path"
	"strings"
)

// ignoreRule is one parsed --ignore pattern.
type ignoreRule struct {
	pattern  string // a path.Match pattern
	anchored bool   // matched against the path from the root, not the base name
	dirOnly  bool   // matches directories only
}

// parseIgnore parses patterns in a subset of the .gitignore syntax:
//
//   - "*.md" (no slash) matches a base name at any depth;
//   - "docs/drafts" or "/tmp" (a slash before the end) matches the path from
//     the root; a leading "**/" makes a pattern match at any depth again;
//   - a trailing "/" matches directories only;
//   - "*", "?" and "[...]" work as in path.Match and never match "/";
//   - blank lines and lines starting with "#" are skipped.
//
// Negation ("!") and "**" anywhere else are refused rather than guessed at.
// A directory that matches is skipped with everything below it.
func parseIgnore(patterns []string) ([]ignoreRule, error) {
	var rules []ignoreRule
	for _, p := range patterns {
		raw := p
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("ignore pattern %q: %s", raw, why)
		}
		if strings.HasPrefix(p, "!") {
			return nil, bad("negation is not supported")
		}
		var r ignoreRule
		if strings.HasSuffix(p, "/") {
			r.dirOnly = true
			p = strings.TrimSuffix(p, "/")
		}
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			p = rest
		} else if strings.Contains(p, "/") {
			r.anchored = true
			p = strings.TrimPrefix(p, "/")
		}
		if strings.Contains(p, "**") {
			return nil, bad(`"**" is supported only as a leading "**/"`)
		}
		if strings.Contains(p, "/") && !r.anchored {
			return nil, bad(`"**/" must be followed by a single name`)
		}
		if p == "" {
			return nil, bad("empty")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, bad(err.Error())
		}
		r.pattern = p
		rules = append(rules, r)
	}
	return rules, nil
}

// ignored reports whether the entry at rel (slash-separated, relative to the
// root) is excluded by rules.
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		subject := path.Base(rel)
		if r.anchored {
			subject = rel
		}
		if ok, _ := path.Match(r.pattern, subject); ok {
			return true
		}
	}
	return false
}
