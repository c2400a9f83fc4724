package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/render"
)

// RenderOptions are the render settings of s, shared by sync and diff: its
// path and target namespace, and, with spec.images.mirrors, image
// relocation by the artifact's images lock, refusing images the lock does
// not pin when the Sync verifies in mode enforce.
func RenderOptions(s *sealiftv1.Sync) (render.Options, error) {
	opts := render.Options{Path: s.Spec.Path, TargetNamespace: s.Spec.TargetNamespace}
	if s.Spec.Images == nil || len(s.Spec.Images.Mirrors) == 0 {
		return opts, nil
	}
	rules := make([]imagelock.Mirror, len(s.Spec.Images.Mirrors))
	for i, m := range s.Spec.Images.Mirrors {
		rules[i] = imagelock.Mirror{From: m.From, To: m.To}
	}
	mirrors, err := imagelock.NewMirrors(rules)
	if err != nil {
		return opts, fmt.Errorf("Sync %s: spec.images.mirrors: %w", s.Key(), err)
	}
	opts.Images = &render.ImageOptions{Mirrors: mirrors, RequireLocked: enforce(s)}
	return opts, nil
}

// preflightConcurrency bounds the HEAD requests of one preflight.
const preflightConcurrency = 4

// preflightImages checks, before anything is applied, that every image
// relocated to a mirror exists there: one HEAD per distinct reference, by
// digest (by tag for an image the lock does not pin, in mode audit). Every
// image missing or that could not be checked is reported at once, with the
// objects that run it; the error wraps errdef.ErrNotFound when one is
// missing, so the reconcile is retried once they are mirrored.
func (r *Engine) preflightImages(ctx context.Context, s *sealiftv1.Sync, rels []render.Relocation) error {
	users := map[string][]string{}
	var images []string
	for _, rel := range rels {
		if rel.Mirror == "" {
			continue
		}
		if _, ok := users[rel.To]; !ok {
			images = append(images, rel.To)
		}
		if !slices.Contains(users[rel.To], rel.Object) {
			users[rel.To] = append(users[rel.To], rel.Object)
		}
	}
	if len(images) == 0 {
		return nil
	}
	canonical, err := pull.ParseReference(s.Spec.Source.URL)
	if err != nil {
		return fmt.Errorf("spec.source.url: %w", err)
	}
	// Static credentials stay with the canonical registry.
	remote := r.Remote.BindCredentials(canonical.Registry)
	errs := make([]error, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(preflightConcurrency)
	for i, image := range images {
		g.Go(func() error {
			ref, err := imagelock.ParseReference(image)
			if err != nil {
				errs[i] = err
				return nil
			}
			pref := pull.Reference{Registry: ref.Domain, Repository: ref.Path, Tag: ref.ResolveTag(), Digest: ref.Digest}
			repo, err := pull.NewRepository(pref, remote.WithPlainHTTP(insecureMirror(s, ref.Domain)))
			if err == nil {
				_, err = pull.Resolve(gctx, repo, pref)
			}
			errs[i] = err
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var missing, unchecked []string
	for i, err := range errs {
		if err == nil {
			continue
		}
		line := fmt.Sprintf("%s (run by %s)", images[i], strings.Join(users[images[i]], ", "))
		if errdef.IsTerminal(err) || isNotFound(err) {
			missing = append(missing, line)
		} else {
			unchecked = append(unchecked, line+": "+err.Error())
		}
	}
	if len(missing) == 0 && len(unchecked) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sync %s: nothing applied: ", s.Key())
	if len(missing) > 0 {
		fmt.Fprintf(&b, "%d relocated image(s) are missing from their mirror (copy them there, e.g. with sealift mirror --with-images):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(unchecked) > 0 {
		if len(missing) > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d relocated image(s) could not be checked in their mirror:\n  %s", len(unchecked), strings.Join(unchecked, "\n  "))
	}
	return fmt.Errorf("%s: %w", b.String(), errdef.ErrNotFound)
}

// isNotFound reports a registry's "no such manifest".
func isNotFound(err error) bool { return errors.Is(err, errdef.ErrNotFound) }

// insecureMirror reports whether s reaches the mirror host over plain HTTP.
func insecureMirror(s *sealiftv1.Sync, host string) bool {
	for _, m := range s.Spec.Images.Mirrors {
		h, _, _ := strings.Cut(m.To, "/")
		if h == "index.docker.io" {
			h = "docker.io"
		}
		if h == host && m.Insecure {
			return true
		}
	}
	return false
}
