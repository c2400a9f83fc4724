package mirror

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/pull"
)

// Transfer says what a transfer of several artifacts carried: the index of
// a release's contents.
type Transfer struct {
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	// Artifacts are the artifacts carried, in list (or index) order.
	Artifacts []Result `json:"artifacts"`
	// Images are the distinct images carried, in the order first met.
	Images []ImageResult `json:"images,omitempty"`
}

// ParseDestination parses where a transfer of several artifacts goes:
// "oci://HOST[/PREFIX]" (each artifact and image lands at HOST/PREFIX
// followed by its repository path), "oci-layout:DIR" or "tar:FILE". A tag
// or digest cannot be given. Errors wrap errdef.ErrInvalidReference.
func ParseDestination(s string) (Location, error) {
	if rest, ok := strings.CutPrefix(s, SchemeRegistry); ok {
		host, prefix, _ := strings.Cut(rest, "/")
		probe := prefix
		if probe == "" {
			probe = "x"
		}
		ref, err := pull.ParseReference(SchemeRegistry + host + "/" + probe)
		if err != nil {
			return Location{}, err
		}
		if !ref.IsBare() {
			return Location{}, fmt.Errorf("%w %q: a transfer's destination names no tag or digest", errdef.ErrInvalidReference, s)
		}
		ref.Repository = prefix
		return Location{Kind: KindRegistry, Ref: ref}, nil
	}
	loc, err := ParseLocation(s)
	if err != nil {
		return loc, err
	}
	if loc.Tag != "" || loc.Digest != "" {
		return Location{}, fmt.Errorf("%w %q: a transfer's destination names no tag or digest", errdef.ErrInvalidReference, s)
	}
	return loc, nil
}

// destinationString prints a transfer destination as ParseDestination reads it.
func destinationString(loc Location) string {
	if loc.Kind == KindRegistry {
		s := SchemeRegistry + loc.Ref.Registry
		if loc.Ref.Repository != "" {
			s += "/" + loc.Ref.Repository
		}
		return s
	}
	return loc.String()
}

// transferConcurrency is how many artifacts (or release images) one
// transfer copies at once, each with pull's own blob concurrency: enough
// to overlap round trips over many small artifacts, polite to a registry.
const transferConcurrency = 4

// pendingTag is an artifact copied and waiting for its name at the
// destination.
type pendingTag struct {
	target oras.Target
	desc   ocispec.Descriptor
	path   string
	tag    string
	source string
}

// MirrorList carries every artifact of list, with its signatures and
// referrers (and, for entries with Images or with opts.WithImages, the
// images of its lock), from their registries to dst (ParseDestination) in
// one transfer. Every artifact is resolved and, with opts.Policy, verified
// at its source before anything is written. Artifacts are tagged (in a
// layout: named repository:tag, with annotations saying what each entry is)
// only once every artifact and image was copied, and a tar file is written
// only then: a failure leaves no tag naming a half-carried release.
func MirrorList(ctx context.Context, list *List, dst Location, opts Options) (Transfer, error) {
	tr := Transfer{Destination: destinationString(dst)}
	jobs := make([]artifactJob, len(list.Artifacts))
	tags := make([]string, len(list.Artifacts))
	tr.Artifacts = make([]Result, len(list.Artifacts))
	for i, e := range list.Artifacts {
		ref, err := e.Reference()
		if err != nil {
			return tr, &Error{Op: "resolve", Location: e.Repository, Err: err}
		}
		srcName := SchemeRegistry + ref.String()
		repo, err := pull.NewRepository(ref, opts.Remote)
		if err != nil {
			return tr, &Error{Op: "open", Location: srcName, Err: err}
		}
		if e.Semver != "" {
			tag, err := pull.ResolveSemver(ctx, repo, e.Semver, e.SemverFilter)
			if err != nil {
				return tr, &Error{Op: "resolve", Location: srcName, Err: err}
			}
			ref.Tag = tag
			srcName = SchemeRegistry + ref.String()
		}
		desc, err := pull.Resolve(ctx, repo, ref)
		if err != nil {
			return tr, &Error{Op: "resolve", Location: srcName, Err: err}
		}
		jobs[i] = artifactJob{src: repo, srcName: srcName, desc: desc, path: ref.Repository}
		if e.Images || opts.WithImages {
			jobs[i].images = imagesAt(Location{Kind: KindRegistry, Ref: ref}, repo, opts.Remote)
		}
		tags[i] = ref.Tag
		tr.Artifacts[i] = Result{Source: srcName, Destination: tr.Destination, Repository: ref.Repository, Digest: desc.Digest.String(), Tag: ref.Tag}
	}
	return carry(ctx, tr, jobs, tags, nil, dst, opts)
}

// MirrorRelease carries everything a layout or tar written by a transfer
// holds (the entries of its index.json that carry AnnotationKind) to dst
// (ParseDestination): every artifact with its signatures and referrers,
// verified first with opts.Policy, and every image, at their repository
// paths. A layout without such entries is refused: carry it with Mirror.
func MirrorRelease(ctx context.Context, src, dst Location, opts Options) (Transfer, error) {
	tr := Transfer{Source: src.String(), Destination: destinationString(dst)}
	if src.Kind == KindRegistry {
		return tr, &Error{Op: "open", Location: tr.Source, Err: fmt.Errorf("%w: a release is read from a layout or tar; for registries, give a mirror list", errdef.ErrInvalidReference)}
	}
	s, err := openSource(ctx, src, opts)
	if err != nil {
		return tr, &Error{Op: "open", Location: tr.Source, Err: err}
	}
	defer s.close()
	entries, err := ReleaseEntries(s.index)
	if err != nil {
		return tr, &Error{Op: "open", Location: tr.Source, Err: err}
	}
	var (
		jobs   []artifactJob
		tags   []string
		images []imageJob
	)
	for _, e := range entries {
		switch e.Kind {
		case EntryArtifact:
			jobs = append(jobs, artifactJob{src: s.target, srcName: tr.Source + ":" + e.Name, desc: e.Descriptor, path: e.Repository})
			tags = append(tags, e.Tag)
			tr.Artifacts = append(tr.Artifacts, Result{Source: tr.Source + ":" + e.Name, Destination: tr.Destination, Repository: e.Repository, Digest: e.Descriptor.Digest.String(), Tag: e.Tag})
		case EntryImage:
			ref, err := imagelock.ParseReference(e.Source)
			if err != nil {
				return tr, &Error{Op: "open", Location: tr.Source, Err: fmt.Errorf("%w: entry %s: source %q: %v", errdef.ErrInvalidManifest, e.Name, e.Source, err)}
			}
			// The image lands at the repository the entry names.
			ref.Path = e.Repository
			images = append(images, imageJob{src: s.target, srcName: tr.Source, ref: ref, written: e.Source, desc: e.Descriptor})
		}
	}
	if len(jobs) == 0 {
		return tr, &Error{Op: "open", Location: tr.Source, Err: fmt.Errorf("%w: no artifact entries (%s annotations): carry a single artifact with Mirror", errdef.ErrNotFound, AnnotationKind)}
	}
	return carry(ctx, tr, jobs, tags, images, dst, opts)
}

// carry runs a transfer of several artifacts: checks every one at its
// source, opens dst, copies them (and the images of their locks, and
// images), then names the artifacts and commits.
func carry(ctx context.Context, tr Transfer, jobs []artifactJob, tags []string, images []imageJob, dst Location, opts Options) (Transfer, error) {
	for i := range jobs {
		if err := check(ctx, opts, &jobs[i], &tr.Artifacts[i]); err != nil {
			return tr, err
		}
	}
	sk, err := openSink(ctx, dst, opts.Remote, dst.Ref.Repository)
	if err != nil {
		return tr, &Error{Op: "open", Location: tr.Destination, Err: err}
	}
	defer sk.close()
	t := newTransfer(opts, sk)
	pending := make([]pendingTag, len(jobs))
	seen := map[string]bool{}
	addImages := func(rs []ImageResult) {
		for _, r := range rs {
			if k := r.Destination + r.Skipped + r.Image; !seen[k] {
				seen[k] = true
				tr.Images = append(tr.Images, r)
			}
		}
	}
	// Artifacts (each with its images) and the images of a release are
	// copied a few at a time; an image pinned by several is copied once.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(transferConcurrency)
	for i, job := range jobs {
		g.Go(func() error {
			res := &tr.Artifacts[i]
			placed, err := t.artifact(gctx, job, res)
			if err != nil {
				return err
			}
			res.Destination = sk.repository(job.path)
			pending[i] = pendingTag{target: placed, desc: job.desc, path: job.path, tag: tags[i], source: job.srcName}
			return nil
		})
	}
	copiedImages := make([]ImageResult, len(images))
	for i, job := range images {
		g.Go(func() error {
			r, err := t.copyImage(gctx, job)
			if err != nil {
				return &Error{Op: "images", Location: job.written, Err: err}
			}
			copiedImages[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return tr, err
	}
	for _, a := range tr.Artifacts {
		addImages(a.Images)
	}
	addImages(copiedImages)
	for i, p := range pending {
		if err := nameArtifact(ctx, sk, p); err != nil {
			return tr, &Error{Op: "copy", Location: tr.Artifacts[i].Destination, Err: err}
		}
		t.note(EntryArtifact, p.source)
	}
	if err := sk.carryTrust(ctx, opts.Trust); err != nil {
		return tr, &Error{Op: "copy", Location: tr.Destination, Err: fmt.Errorf("trust material: %w", err)}
	}
	if sk.commit != nil {
		if err := sk.commit(); err != nil {
			return tr, &Error{Op: "write", Location: tr.Destination, Err: err}
		}
	}
	return tr, nil
}

// nameArtifact tags a carried artifact at a registry (when it has a tag),
// or names it repository:tag (else repository@digest) in a layout, and
// checks that the name resolves to the digest copied.
func nameArtifact(ctx context.Context, sk *sink, p pendingTag) error {
	key := p.tag
	if sk.store != nil {
		key = name(p.path, p.tag, p.desc)
		if err := sk.label(ctx, p.desc, key, EntryArtifact, p.path, p.source); err != nil {
			return err
		}
	} else if p.tag != "" {
		if err := p.target.Tag(ctx, p.desc, p.tag); err != nil {
			return fmt.Errorf("tag %s as %q: %w", p.desc.Digest, p.tag, err)
		}
	} else {
		key = p.desc.Digest.String()
	}
	got, err := p.target.Resolve(ctx, key)
	if err != nil {
		return fmt.Errorf("resolve %s after copying: %w", key, err)
	}
	if got.Digest != p.desc.Digest {
		return fmt.Errorf("%w: %s resolves to %s, the source holds %s", errdef.ErrDigestMismatch, key, got.Digest, p.desc.Digest)
	}
	return nil
}

// ReleaseEntry is one entry of a release layout's index.json.
type ReleaseEntry struct {
	// Kind is EntryArtifact, EntryImage or EntryTrust.
	Kind string `json:"kind"`
	// Name is the entry's name in index.json: repository:tag or
	// repository@digest.
	Name string `json:"name"`
	// Repository is the repository path it lands at.
	Repository string `json:"repository"`
	// Tag is the tag of an artifact named repository:tag.
	Tag string `json:"tag,omitempty"`
	// Source is where it was copied from.
	Source     string             `json:"source,omitempty"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// ReleaseEntries reads the entries of a layout's index.json (as checked by
// the layout's opening) that carry AnnotationKind, in a stable order
// (artifacts, images, then trust; by name within each). An entry whose
// name does not agree with its repository, or whose kind is unknown, is
// refused with errdef.ErrInvalidManifest: the far side places entries by
// these names.
func ReleaseEntries(index []ocispec.Descriptor) ([]ReleaseEntry, error) {
	var out []ReleaseEntry
	for _, d := range index {
		kind := d.Annotations[AnnotationKind]
		if kind == "" {
			continue
		}
		e := ReleaseEntry{Kind: kind, Name: d.Annotations[ocispec.AnnotationRefName], Repository: d.Annotations[AnnotationRepository],
			Source: d.Annotations[AnnotationSource], Descriptor: d}
		bad := func(why string) error {
			return fmt.Errorf("%w: index.json entry %q (%s): %s", errdef.ErrInvalidManifest, e.Name, d.Digest, why)
		}
		switch kind {
		case EntryArtifact, EntryImage:
			if _, err := pull.ParseReference("x.invalid/" + e.Repository); err != nil || e.Repository == "" {
				return nil, bad("repository " + fmt.Sprintf("%q", e.Repository) + " is not a repository path")
			}
			switch {
			case e.Name == e.Repository+"@"+d.Digest.String():
			case strings.HasPrefix(e.Name, e.Repository+":") && kind == EntryArtifact:
				e.Tag = strings.TrimPrefix(e.Name, e.Repository+":")
				if validTag(e.Tag) != nil {
					return nil, bad("bad tag")
				}
			default:
				return nil, bad("the name is not repository:tag or repository@digest")
			}
		case EntryTrust:
		default:
			return nil, bad("unknown kind " + fmt.Sprintf("%q", kind))
		}
		out = append(out, e)
	}
	order := map[string]int{EntryArtifact: 0, EntryImage: 1, EntryTrust: 2}
	slices.SortStableFunc(out, func(a, b ReleaseEntry) int {
		if c := order[a.Kind] - order[b.Kind]; c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
