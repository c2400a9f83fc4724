package pull

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/Masterminds/semver/v3"
	"oras.land/oras-go/v2/registry"

	"github.com/sealift-dev/sealift/errdef"
)

// MaxTags caps the tags ResolveSemver reads from one repository: far more
// than any release history, small enough that a registry listing tags
// forever cannot exhaust memory. Each page of the list is also capped at
// limits.MaxManifestBytes by the repository client.
const MaxTags = 100_000

// errStopListing ends a tag listing early; it never escapes ResolveSemver.
var errStopListing = errors.New("stop listing")

// semverMatcher is a parsed constraint and tag filter, and the lowest
// version it may pick.
type semverMatcher struct {
	source     string // the constraint as written
	constraint *semver.Constraints
	filter     *regexp.Regexp
	floor      *semver.Version
}

func newSemverMatcher(constraint, filter string) (*semverMatcher, error) {
	if constraint == "" {
		return nil, fmt.Errorf("%w: empty semver constraint", errdef.ErrInvalidReference)
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, fmt.Errorf("%w: semver constraint %q: %v", errdef.ErrInvalidReference, constraint, err)
	}
	m := &semverMatcher{source: constraint, constraint: c}
	if filter != "" {
		if m.filter, err = regexp.Compile(filter); err != nil {
			return nil, fmt.Errorf("%w: tag filter %q: %v", errdef.ErrInvalidReference, filter, err)
		}
	}
	return m, nil
}

// setFloor makes m refuse picks older than floor ("" for none).
func (m *semverMatcher) setFloor(floor string) error {
	if floor == "" {
		return nil
	}
	v, err := semver.NewVersion(floor)
	if err != nil {
		return fmt.Errorf("%w: floor version %q: %v", errdef.ErrInvalidReference, floor, err)
	}
	m.floor = v
	return nil
}

// ValidateSemver checks a constraint and tag filter without contacting a
// registry, so a spec or a command line can be refused before any I/O.
func ValidateSemver(constraint, filter string) error {
	_, err := newSemverMatcher(constraint, filter)
	return err
}

// ResolveSemver lists the repository's tags and returns the tag holding
// the highest version that satisfies constraint (Masterminds/semver syntax:
// ">=1.0.0 <2.0.0", "~1.4", "^2", "1.x"), considering only tags that match
// the filter regular expression when filter is not empty. Tags that are not
// versions ("latest", "main-abc123") are skipped; a leading "v" is allowed.
// Pre-releases are considered only when the constraint names one. When two
// tags hold the same version ("1.2" and "v1.2.0"), the lexically greater
// tag wins, so the choice is deterministic.
//
// The tag, not a digest, is returned: resolve it with Resolve like any
// other tag. Errors wrap errdef.ErrInvalidReference for a bad constraint or
// filter and errdef.ErrNotFound when no tag matches.
func ResolveSemver(ctx context.Context, tags registry.TagLister, constraint, filter string) (string, error) {
	m, err := newSemverMatcher(constraint, filter)
	if err != nil {
		return "", &Error{Op: "resolve", Ref: "semver " + constraint, Err: err}
	}
	return m.resolve(ctx, tags)
}

// resolve lists tags and returns the best one, as ResolveSemver describes;
// with a floor, a best tag older than the floor is refused with
// errdef.ErrRollback.
func (m *semverMatcher) resolve(ctx context.Context, tags registry.TagLister) (string, error) {
	fail := func(err error) (string, error) {
		return "", &Error{Op: "resolve", Ref: "semver " + m.source, Err: err}
	}
	var (
		best    *semver.Version
		bestTag string
		seen    int
		tooMany bool
	)
	err := tags.Tags(ctx, "", func(page []string) error {
		for _, tag := range page {
			seen++
			if seen > MaxTags {
				tooMany = true
				return errStopListing
			}
			v, ok := m.match(tag)
			if !ok {
				continue
			}
			if best == nil || v.GreaterThan(best) || (v.Equal(best) && tag > bestTag) {
				best, bestTag = v, tag
			}
		}
		return nil
	})
	switch {
	case tooMany:
		return fail(fmt.Errorf("%w: the repository lists more than %d tags", errdef.ErrSizeExceedsLimit, MaxTags))
	case err != nil:
		return fail(classify(fmt.Errorf("list tags: %w", err)))
	case best == nil:
		msg := fmt.Sprintf("no tag satisfies %q among %d tags", m.source, seen)
		if m.filter != nil {
			msg += fmt.Sprintf(" (only tags matching %q count)", m.filter)
		}
		return fail(fmt.Errorf("%w: %s", errdef.ErrNotFound, msg))
	case m.floor != nil && best.LessThan(m.floor):
		return fail(fmt.Errorf("%w: the highest tag satisfying %q is %s, older than %s applied before", errdef.ErrRollback, m.source, bestTag, m.floor.Original()))
	}
	return bestTag, nil
}

// match reports whether tag passes the filter and parses as a version that
// satisfies the constraint.
func (m *semverMatcher) match(tag string) (*semver.Version, bool) {
	if m.filter != nil && !m.filter.MatchString(tag) {
		return nil, false
	}
	v, err := semver.NewVersion(tag)
	if err != nil {
		return nil, false
	}
	return v, m.constraint.Check(v)
}
