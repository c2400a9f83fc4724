package mirror

import (
	"context"
	"fmt"
	"maps"
	"path"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/pull"
)

// Annotations on the index.json entries of a layout or tar written by a
// transfer of several artifacts or of images: they say what each entry is,
// so the far side knows where to put it without the source registries.
const (
	// AnnotationKind is EntryArtifact, EntryImage or EntryTrust.
	AnnotationKind = "dev.sealift.mirror.kind"
	// AnnotationRepository is the repository path the entry lands at,
	// without a registry host: team/app, library/nginx.
	AnnotationRepository = "dev.sealift.mirror.repository"
	// AnnotationSource is where the entry was copied from (an artifact's
	// repository and tag, an image reference as its lock wrote it).
	AnnotationSource = "dev.sealift.mirror.source"
)

// Entry kinds (AnnotationKind).
const (
	EntryArtifact = "artifact"
	EntryImage    = "image"
	EntryTrust    = "trust"
)

// sink is an opened destination: one registry host (a repository per
// path), or one layout store, written as a tar file on commit.
type sink struct {
	loc    Location
	remote pull.RemoteOptions
	// prefix goes before every path at a registry (list mode: DST's path).
	prefix string
	// store is the layout (KindLayout, KindTar); nil for a registry.
	store oras.Target
	// commit and cleanup are the tar file's; nil otherwise.
	commit  func() error
	cleanup func()

	mu    sync.Mutex
	repos map[string]oras.Target
}

// openSink opens loc for writing. At a registry, prefix goes before the
// repository path of everything placed there.
func openSink(ctx context.Context, loc Location, remote pull.RemoteOptions, prefix string) (*sink, error) {
	s := &sink{loc: loc, remote: remote, prefix: prefix, repos: map[string]oras.Target{}}
	switch loc.Kind {
	case KindRegistry:
		return s, nil
	case KindLayout:
		store, err := openLayoutDestination(ctx, loc.Path)
		if err != nil {
			return nil, err
		}
		s.store = store
		return s, nil
	case KindTar:
		t, err := openTarDestination(ctx, loc.Path)
		if err != nil {
			return nil, err
		}
		s.store, s.commit, s.cleanup = t, t.commit, t.cleanup
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown location kind %d", errdef.ErrInvalidReference, loc.Kind)
}

// close removes a tar destination's working files.
func (s *sink) close() {
	if s.cleanup != nil {
		s.cleanup()
	}
}

// repository is where repository path p lands: host/prefix/p at a
// registry, the layout otherwise.
func (s *sink) repository(p string) string {
	if s.store != nil {
		return s.loc.String()
	}
	return SchemeRegistry + s.loc.Ref.Registry + "/" + s.join(p)
}

func (s *sink) join(p string) string {
	if s.prefix == "" {
		return p
	}
	return path.Join(s.prefix, p)
}

// target returns the target repository path p is written to.
func (s *sink) target(p string) (oras.Target, error) {
	if s.store != nil {
		return s.store, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.repos[p]; ok {
		return t, nil
	}
	repo, err := pull.NewRepository(pull.Reference{Registry: s.loc.Ref.Registry, Repository: s.join(p)}, s.remote)
	if err != nil {
		return nil, err
	}
	s.repos[p] = repo
	return repo, nil
}

// name is how an entry is named in a layout: repository:tag, else
// repository@digest.
func name(repository, tag string, desc ocispec.Descriptor) string {
	if tag != "" {
		return repository + ":" + tag
	}
	return repository + "@" + desc.Digest.String()
}

// label names desc in a layout destination as name, with the
// annotations that say what it is; a registry needs no label.
func (s *sink) label(ctx context.Context, desc ocispec.Descriptor, ref, kind, repository, source string) error {
	if s.store == nil {
		return nil
	}
	d := desc
	d.Annotations = maps.Clone(desc.Annotations)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[AnnotationKind] = kind
	d.Annotations[AnnotationRepository] = repository
	if source != "" {
		d.Annotations[AnnotationSource] = source
	}
	if err := s.store.Tag(ctx, d, ref); err != nil {
		return fmt.Errorf("name %s %q in the layout: %w", desc.Digest, ref, err)
	}
	return nil
}
