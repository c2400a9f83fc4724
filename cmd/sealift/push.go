package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2/content/memory"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

type pushOptions struct {
	source      string
	revision    string
	annotations []string
	created     string
	sign        bool
	key         string
	signFormat  string
	sigs        signatureRepoOptions
	kustomize   bool
	ignore      []string
	dryRun      bool
	tags        []string
	layerType   string
	images      pushImagesOptions
	remote      remoteOptions
	output      outputOptions
}

func newPushCmd() *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push DIR oci://REPO:TAG",
		Short: "Pack a directory of manifests into an OCI artifact and push it",
		Long: `Pack DIR (or a single file) into a reproducible OCI artifact in the Flux format and push it
to the registry under TAG. The same content and options always give the same digest: file times,
owners and permissions (except the execute bit) are not recorded, and the creation time is the
Unix epoch unless --created is given. Prints the manifest digest.

--kustomize builds the kustomization in DIR first (plugins off, remote bases refused, confined
to DIR) and pushes the result as one manifests.yaml. --dry-run computes the digest without
contacting the registry, to tell whether anything changed.

--images-lock renders what is packed (at the root, or at each --images-path), finds every
container image its objects run (containers, initContainers and ephemeralContainers of Pods,
workload templates and custom resources embedding a pod spec), resolves each to a digest
(a multi-platform index stays an index) and packs the list as .sealift/images.yaml inside the
artifact, so the signature covers the image digests. Registries are reached with the same
credentials and TLS flags; plain HTTP (--insecure) applies to images on the artifact's registry
only. A reference that cannot be resolved fails the push, naming it and its objects, unless
--allow-unresolved records it as written.`,
		Example: `  sealift push ./rendered oci://registry.example.com/team/app:1.4.2 \
      --source "$(git remote get-url origin)" --revision "main@sha1:$(git rev-parse HEAD)"
  sealift push ./rendered oci://127.0.0.1:5000/app:dev --insecure -o json
  sealift push ./overlays/prod oci://registry.example.com/team/app:1.4.2 --kustomize --tag latest
  sealift push ./rendered oci://registry.example.com/team/app:1.4.2 --dry-run --ignore '*.md'
  COSIGN_PASSWORD=... sealift push ./rendered oci://registry.example.com/team/app:1.4.2 --sign --key cosign.key
  sealift push ./rendered oci://registry.example.com/team/app:1.4.2 --images-lock --sign --key cosign.key`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd, args[0], args[1], &o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.source, "source", "", "source URL recorded as org.opencontainers.image.source (e.g. the git remote)")
	fs.StringVar(&o.revision, "revision", "", "revision recorded as org.opencontainers.image.revision (e.g. main@sha1:<commit>)")
	fs.StringArrayVarP(&o.annotations, "annotation", "a", nil, "extra manifest annotation KEY=VALUE (repeatable)")
	fs.StringVar(&o.created, "created", "", "creation time recorded as org.opencontainers.image.created, RFC 3339 (default: the Unix epoch)")
	fs.BoolVar(&o.sign, "sign", false, "sign the pushed digest with --key (COSIGN_PASSWORD unlocks the key)")
	fs.StringVar(&o.key, "key", "", "cosign private key file for --sign")
	fs.StringVar(&o.signFormat, "sign-format", signFormatLegacy, "signature format for --sign: legacy, bundle or both")
	o.sigs.addFlags(fs)
	fs.BoolVar(&o.kustomize, "kustomize", false, "build the kustomization in DIR and push the rendered manifests")
	fs.StringArrayVar(&o.ignore, "ignore", nil, "leave out paths matching this pattern (.gitignore style, repeatable; .git, .svn and .hg are always left out)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the digest the push would produce without pushing")
	fs.StringArrayVar(&o.tags, "tag", nil, "extra tag for the pushed artifact (repeatable)")
	fs.StringVar(&o.layerType, "layer-media-type", "flux", "content layer media type: flux, oci (plain OCI tar+gzip, readable by more tools) or a full media type ending in tar+gzip")
	o.images.addFlags(fs)
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

func (o *pushOptions) packOptions() (push.Options, error) {
	opts := push.Options{Source: o.source, Revision: o.revision, Ignore: o.ignore, Kustomize: o.kustomize}
	switch o.layerType {
	case "", "flux":
		opts.LayerMediaType = push.MediaTypeFluxContent
	case "oci":
		opts.LayerMediaType = push.MediaTypeOCILayer
	default:
		if !strings.HasSuffix(o.layerType, "tar+gzip") {
			return opts, withHint(fmt.Errorf("--layer-media-type %q is not tar+gzip", o.layerType), "use flux, oci, or a media type ending in tar+gzip")
		}
		opts.LayerMediaType = o.layerType
	}
	if o.kustomize && len(o.ignore) > 0 {
		return opts, withHint(errors.New("--ignore does not apply with --kustomize"), "the kustomization chooses its resources; drop --ignore")
	}
	if err := o.images.validate(o.kustomize); err != nil {
		return opts, err
	}
	if o.created != "" {
		t, err := time.Parse(time.RFC3339, o.created)
		if err != nil {
			return opts, withHint(fmt.Errorf("--created %q: %w", o.created, err), "use RFC 3339, e.g. 2024-05-13T13:56:21Z or $(git log -1 --format=%%cI)")
		}
		opts.Created = t
	}
	for _, a := range o.annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return opts, withHint(fmt.Errorf("annotation %q is not KEY=VALUE", a), "pass -a key=value")
		}
		if opts.Annotations == nil {
			opts.Annotations = map[string]string{}
		}
		opts.Annotations[k] = v
	}
	return opts, nil
}

func runPush(cmd *cobra.Command, dir, target string, o *pushOptions) error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	if err := validSignFormat("sign-format", o.signFormat); err != nil {
		return err
	}
	if err := o.sigs.validate(); err != nil {
		return err
	}
	if o.sign && o.key == "" {
		return withHint(errors.New("--sign needs --key"), "pass --key cosign.key (create one with sealift key generate)")
	}
	if !o.sign && o.key != "" {
		return withHint(errors.New("--key is only used with --sign"), "add --sign to sign the pushed digest")
	}
	if o.sign && o.dryRun {
		return withHint(errors.New("--dry-run pushes nothing to sign"), "drop --sign or --dry-run")
	}
	opts, err := o.packOptions()
	if err != nil {
		return err
	}
	ref, err := pull.ParseReference(target)
	if err != nil {
		return withHint(err, "use oci://host/repository:tag")
	}
	if ref.Digest != "" || ref.Tag == "" {
		return withHint(fmt.Errorf("push needs a tag, got %q", target), "use oci://host/repository:tag")
	}
	for _, tag := range o.tags {
		extra := ref
		extra.Tag = tag
		if _, err := pull.ParseReference(extra.String()); err != nil {
			return withHint(fmt.Errorf("--tag %q: %w", tag, err), "tags are letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'")
		}
	}
	ctx := cmd.Context()
	o.images.apply(&opts, &o.remote, ref)
	res := push.Result{Repository: ref.Repo(), Tag: ref.Tag, Tags: o.tags, DryRun: o.dryRun}
	if o.dryRun {
		desc, lock, err := push.PackLocked(ctx, dir, opts, memory.New())
		if err != nil {
			return packHint(err)
		}
		res.Digest, res.Size = desc.Digest.String(), desc.Size
		res.Images = lockedImages(lock)
		return o.print(cmd, res)
	}
	repo, err := o.remote.repository(ref)
	if err != nil {
		return err
	}
	var prog *progress
	if !o.output.json() {
		prog = startProgress(cmd.ErrOrStderr(), "pushing")
	}
	prog.trackUploads(repo)
	desc, lock, err := push.PushLocked(ctx, dir, repo, ref.Tag, opts)
	prog.finish()
	if err != nil {
		var unresolved *imagelock.UnresolvedError
		if errors.Is(err, errdef.ErrUnsafePath) || errors.Is(err, errdef.ErrInvalidObject) || errors.Is(err, os.ErrNotExist) ||
			errors.Is(err, os.ErrExist) || errors.As(err, &unresolved) {
			return packHint(err)
		}
		return withHint(err, "check that the registry is reachable and that you may push to %s (--creds, docker login, --insecure for plain HTTP)", ref.Repo())
	}
	for _, tag := range o.tags {
		if err := repo.Tag(ctx, desc, tag); err != nil {
			return withHint(fmt.Errorf("pushed %s but tagging it %q failed: %w", desc.Digest, tag, err), "tag it again with sealift push or oras tag")
		}
	}
	res.Digest, res.Size = desc.Digest.String(), desc.Size
	res.Images = lockedImages(lock)
	if o.sign {
		if err := o.signPushed(ctx, repo, desc, ref); err != nil {
			return withHint(fmt.Errorf("pushed %s but signing failed: %w", desc.Digest, err),
				"sign it again with sealift sign oci://%s@%s --key %s --format %s", ref.Repo(), desc.Digest, o.key, o.signFormat)
		}
	}
	return o.print(cmd, res)
}

// print writes the result: the digest, or JSON with -o json.
func (o *pushOptions) print(cmd *cobra.Command, res push.Result) error {
	out := cmd.OutOrStdout()
	if o.output.json() {
		return writeJSON(out, res)
	}
	_, err := fmt.Fprintln(out, res.Digest)
	return err
}

// packHint explains a failure to read or build the input tree.
func packHint(err error) error {
	switch {
	case errors.Is(err, errdef.ErrUnsafePath):
		return withHint(err, "replace symlinks and special files with regular files before pushing")
	case errors.Is(err, errdef.ErrInvalidObject):
		return withHint(err, "fix the kustomization or manifests; sealift builds with plugins off and local resources only")
	case errors.Is(err, os.ErrExist):
		return withHint(err, "the images lock is generated: remove .sealift from DIR, or leave out --images-lock to pack the tree as it is")
	}
	var unresolved *imagelock.UnresolvedError
	if errors.As(err, &unresolved) {
		return withHint(err, "push the missing images, fix the references, or pass --allow-unresolved to record them as written")
	}
	return withHint(err, "check the directory, --ignore patterns and --kustomize")
}

// signPushed signs the pushed digest in the format and repository asked for.
func (o *pushOptions) signPushed(ctx context.Context, repo *orasremote.Repository, desc ocispec.Descriptor, ref pull.Reference) error {
	signer, err := loadSigner(o.key)
	if err != nil {
		return err
	}
	sigRepo, err := o.sigs.repository(&o.remote, repo)
	if err != nil {
		return err
	}
	var res signResult
	return signWith(ctx, sigRepo, desc, ref.Repo(), signer, o.signFormat, &res)
}

// pushImagesOptions are push's images lock flags.
type pushImagesOptions struct {
	lock            bool
	allowUnresolved bool
	paths           []string
}

func (o *pushImagesOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.lock, "images-lock", false, "resolve every container image the manifests run to a digest and pack the list as .sealift/images.yaml (covered by the signature)")
	fs.BoolVar(&o.allowUnresolved, "allow-unresolved", false, "with --images-lock, record an image that cannot be resolved as written instead of failing")
	fs.StringArrayVar(&o.paths, "images-path", nil, "with --images-lock, a directory inside DIR rendered to find images, as a Sync's spec.path (repeatable; default: DIR's root)")
}

func (o *pushImagesOptions) validate(kustomize bool) error {
	if !o.lock && (o.allowUnresolved || len(o.paths) > 0) {
		return withHint(errors.New("--allow-unresolved and --images-path are used with --images-lock"), "add --images-lock")
	}
	if kustomize && len(o.paths) > 0 {
		return withHint(errors.New("--images-path does not apply with --kustomize"), "the build is packed as one file; drop --images-path")
	}
	return nil
}

// apply sets opts to lock images as the flags ask, resolving them with the
// remote flags: static credentials stay with the artifact's registry, and
// plain HTTP (--insecure) is used for images on that registry only.
func (o *pushImagesOptions) apply(opts *push.Options, remote *remoteOptions, ref pull.Reference) {
	if !o.lock {
		return
	}
	resolver := imagelock.RegistryResolver{Remote: remote.pullOptions().BindCredentials(ref.Registry)}
	if remote.Insecure {
		resolver.PlainHTTP = []string{ref.Registry}
	}
	build := imagelock.BuildOptions{AllowUnresolved: o.allowUnresolved}
	opts.ImagesPaths = o.paths
	opts.ImagesLock = func(ctx context.Context, objs []*unstructured.Unstructured) (*imagelock.Lock, error) {
		uses, err := imagelock.Find(objs)
		if err != nil {
			return nil, err
		}
		return imagelock.Build(ctx, uses, resolver, build)
	}
}

// lockedImages lists the entries of lock, nil without one.
func lockedImages(lock *imagelock.Lock) []imagelock.Image {
	if lock == nil {
		return nil
	}
	return lock.Images
}
