package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/mirror"
	"github.com/sealift-dev/sealift/verify"
)

type mirrorOptions struct {
	keys          []string
	list          string
	withImages    bool
	referrerTypes []string
	carryKeys     []string
	carryRoot     string
	pins          []string
	remote        remoteOptions
	output        outputOptions
}

func newMirrorCmd() *cobra.Command {
	var o mirrorOptions
	cmd := &cobra.Command{
		Use:   "mirror SRC DST | mirror -f LIST DST",
		Short: "Copy artifacts with their signatures, referrers and images between registries, OCI layouts and tar files",
		Long: `Resolve SRC to a digest and copy exactly that digest to DST, tagged with DST's tag or else
SRC's, together with its cosign signatures: the legacy sha256-<hex>.sig signature manifest and
the sigstore bundles that refer to the digest. At DST they are stored where 'sealift verify'
looks for them. Prints the digest, which is the same at both ends.

SRC and DST are each one of:
  oci://HOST/REPO[:TAG|@DIGEST]   a repository in a registry
  oci-layout:DIR[:TAG|@DIGEST]    an OCI image layout directory (created at DST when missing)
  tar:FILE[:TAG|@DIGEST]          an OCI image layout in a tar file (read in place; at DST
                                  written only when the whole mirror succeeded, never replacing a file)
A registry SRC without tag or digest means :latest; a layout or tar SRC, its only tag.

With --key, the digest must carry a signature from one of the keys at SRC, or nothing is
written; after the copy the same check must pass at DST (before a tar file is written).
Referrers that are not signatures (SBOMs, attestations) are copied too; --referrer-type keeps
only those of the given artifact types.

--with-images also copies every container image the artifact's images lock pins (see push
--images-lock): every platform of an index, with the image's own cosign signatures and
referrers. From a registry they are read at their own registries, from a layout or tar in it.
Into a registry they land on DST's host at their repository path without the source host
(docker.io/library/nginx@sha256:... -> HOST/library/nginx@sha256:...), so a Sync maps them with
images.mirrors: [{from: docker.io, to: HOST}].

-f LIST carries a release in one transfer: every artifact of a mirror list file

  apiVersion: sealift.dev/v1alpha1
  kind: MirrorList
  artifacts:
  - {repository: registry.example/team/app, tag: 1.4.2, images: true}
  - {repository: registry.example/team/db, semver: "~2.3"}     # or digest: sha256:...

into DST, one of oci://HOST[/PREFIX] (each artifact and image at HOST/PREFIX/<its repository
path>), oci-layout:DIR or tar:FILE. A layout or tar written so names every entry in its
index.json (team/app:1.4.2, library/nginx@sha256:...) and annotates what it is; carry it on
with 'sealift mirror tar:FILE oci://HOST[/PREFIX]', and -o json lists what was carried.

--carry-key and --carry-trusted-root put public keys and a trusted_root.json into a layout or
tar for the far side's convenience; there they are used only when their fingerprints are
pinned with --trust-fingerprint, and ignored with a warning otherwise. Copies into a registry
skip blobs already there, so an interrupted mirror run again finishes where it stopped.`,
		Example: `  sealift mirror oci://registry.example/team/app:1.4.2 tar:app-1.4.2.tar --key cosign.pub
  sealift mirror tar:app-1.4.2.tar oci://mirror.internal:5000/team/app --key cosign.pub
  sealift mirror oci://registry.example/team/app@sha256:... oci-layout:./layout:1.4.2 -o json
  sealift mirror oci://registry.example/team/app:1.4.2 oci://mirror.internal:5000/team/app --with-images
  sealift mirror -f release.yaml tar:release.tar --key cosign.pub --carry-key cosign.pub
  sealift mirror tar:release.tar oci://mirror.internal:5000 --key cosign.pub -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.list != "" {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.validate(); err != nil {
				return err
			}
			if err := o.output.validate(); err != nil {
				return err
			}
			if o.list != "" {
				return o.runList(cmd, args[0])
			}
			return o.run(cmd, args[0], args[1])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.keys, "key", nil, "public key (PEM) the artifact must be signed with at SRC before it is copied; repeat for several, any one suffices")
	fs.StringVarP(&o.list, "file", "f", "", "mirror list file: carry every artifact it names into DST in one transfer")
	fs.BoolVar(&o.withImages, "with-images", false, "also copy the container images each artifact's images lock pins, with their signatures")
	fs.StringArrayVar(&o.referrerTypes, "referrer-type", nil, "copy only referrers of this artifact type besides signatures (repeatable; default: all)")
	fs.StringArrayVar(&o.carryKeys, "carry-key", nil, "public key (PEM) to carry in a layout or tar for the far side (used there only once pinned; repeatable)")
	fs.StringVar(&o.carryRoot, "carry-trusted-root", "", "trusted_root.json to carry in a layout or tar for the far side (used there only once pinned)")
	fs.StringArrayVar(&o.pins, "trust-fingerprint", nil, "use a key a layout or tar SRC carries as a --key when its fingerprint (sha256:...) is this one (repeatable)")
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

// locationHint says how to write SRC and DST.
const locationHint = "use oci://host/repository[:tag|@sha256:...], oci-layout:DIR[:tag] or tar:FILE[:tag]"

func (o *mirrorOptions) run(cmd *cobra.Command, srcArg, dstArg string) error {
	ctx := cmd.Context()
	src, err := mirror.ParseLocation(srcArg)
	if err != nil {
		return withHint(err, locationHint)
	}
	if src.Kind != mirror.KindRegistry {
		// A layout or tar a transfer wrote holding several artifacts (or
		// one, named repository:tag) is carried on whole.
		_, entries, release, err := mirror.OpenRelease(ctx, src, o.remote.pullOptions())
		if err == nil {
			release()
			for _, e := range entries {
				if e.Kind == mirror.EntryArtifact {
					return o.runRelease(cmd, src, dstArg)
				}
			}
		}
	}
	dst, err := mirror.ParseLocation(dstArg)
	if err != nil {
		return withHint(err, locationHint)
	}
	opts, prog, err := o.options(cmd, src)
	if err != nil {
		return err
	}
	res, err := mirror.Mirror(ctx, src, dst, opts)
	prog.finish()
	if err != nil {
		return mirrorHint(err, src, dst)
	}
	o.warnImages(cmd, res)
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
	return err
}

// runList carries the artifacts of the --file list into dstArg.
func (o *mirrorOptions) runList(cmd *cobra.Command, dstArg string) error {
	data, err := readCapped(o.list, limits.MaxMirrorListBytes)
	if err != nil {
		return withHint(err, "pass a mirror list file (kind: MirrorList)")
	}
	list, err := mirror.ParseList(data)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", o.list, err), "see 'sealift mirror -h' for the mirror list format")
	}
	dst, err := mirror.ParseDestination(dstArg)
	if err != nil {
		return withHint(err, "use oci://HOST[/PREFIX], oci-layout:DIR or tar:FILE")
	}
	opts, prog, err := o.options(cmd, mirror.Location{Kind: mirror.KindRegistry})
	if err != nil {
		return err
	}
	tr, err := mirror.MirrorList(cmd.Context(), list, dst, opts)
	prog.finish()
	if err != nil {
		return mirrorHint(err, mirror.Location{}, dst)
	}
	return o.printTransfer(cmd, tr)
}

// runRelease carries a layout or tar a transfer wrote into dstArg.
func (o *mirrorOptions) runRelease(cmd *cobra.Command, src mirror.Location, dstArg string) error {
	dst, err := mirror.ParseDestination(dstArg)
	if err != nil {
		return withHint(err, "%s holds a release: carry it to oci://HOST[/PREFIX], oci-layout:DIR or tar:FILE", src)
	}
	opts, prog, err := o.options(cmd, src)
	if err != nil {
		return err
	}
	tr, err := mirror.MirrorRelease(cmd.Context(), src, dst, opts)
	prog.finish()
	if err != nil {
		return mirrorHint(err, src, dst)
	}
	return o.printTransfer(cmd, tr)
}

// options builds the mirror options from the flags: the policy (--key,
// and the keys src carries that --trust-fingerprint pins), images,
// referrer types, trust to carry, and progress on a terminal.
func (o *mirrorOptions) options(cmd *cobra.Command, src mirror.Location) (mirror.Options, *mirrorProgress, error) {
	opts := mirror.Options{Remote: o.remote.pullOptions(), WithImages: o.withImages, ReferrerTypes: o.referrerTypes}
	var policy verify.Policy
	if len(o.keys) > 0 {
		var err error
		if policy, _, err = loadKeys(o.keys, 1); err != nil {
			return opts, nil, err
		}
	}
	if len(o.pins) > 0 {
		if src.Kind == mirror.KindRegistry {
			return opts, nil, withHint(errors.New("--trust-fingerprint pins keys a layout or tar carries"), "pass the keys with --key")
		}
		keys, _, err := pinnedTrust(cmd, src, o.remote.pullOptions(), o.pins)
		if err != nil {
			return opts, nil, err
		}
		if len(keys) == 0 {
			// Pins ask for a check: without a key to check with, nothing
			// is carried rather than everything unchecked.
			return opts, nil, withHint(fmt.Errorf("%s: no key it carries matches --trust-fingerprint %s: %w", src, strings.Join(o.pins, ", "), errdef.ErrPolicyViolation),
				"do not import this file unless you trust where it came from; check the fingerprint, or pass the key with --key")
		}
		policy.Keys = append(policy.Keys, keys...)
	}
	if len(policy.Keys) > 0 {
		policy.Mode, policy.Threshold = verify.Enforce, 1
		opts.Policy = &policy
	}
	if len(o.carryKeys) > 0 || o.carryRoot != "" {
		tr := &mirror.Trust{}
		for _, k := range o.carryKeys {
			data, err := readCapped(k, limits.MaxKeyFileBytes)
			if err == nil {
				_, err = cosignfmt.LoadPublicKey(data)
			}
			if err != nil {
				return opts, nil, withHint(fmt.Errorf("--carry-key %s: %w", k, err), "pass a PEM public key")
			}
			tr.Keys = append(tr.Keys, data)
		}
		if o.carryRoot != "" {
			data, err := cosignfmt.LoadTrustedRootFile(o.carryRoot)
			if err != nil {
				return opts, nil, withHint(fmt.Errorf("--carry-trusted-root: %w", err), "pass a trusted_root.json")
			}
			tr.TrustedRoot = data
		}
		opts.Trust = tr
	}
	var prog *mirrorProgress
	if !o.output.json() {
		prog = startMirrorProgress(cmd.ErrOrStderr())
	}
	prog.attach(&opts)
	return opts, prog, nil
}

// warnImages says on stderr what --with-images could not carry.
func (o *mirrorOptions) warnImages(cmd *cobra.Command, res mirror.Result) {
	w := cmd.ErrOrStderr()
	if res.NoImagesLock {
		fmt.Fprintf(w, "Warning: %s holds no images lock (push it with --images-lock); no images were copied\n", res.Source)
	}
	for _, img := range res.Images {
		if img.Skipped != "" {
			fmt.Fprintf(w, "Warning: image %s not copied: %s\n", img.Image, img.Skipped)
		}
	}
}

// printTransfer prints what a transfer of several artifacts carried: a
// line per artifact and image, or the index of contents with -o json.
func (o *mirrorOptions) printTransfer(cmd *cobra.Command, tr mirror.Transfer) error {
	for _, a := range tr.Artifacts {
		o.warnImages(cmd, a)
	}
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), tr)
	}
	w := cmd.OutOrStdout()
	for _, a := range tr.Artifacts {
		at := a.Repository
		if a.Tag != "" {
			at += ":" + a.Tag
		}
		fmt.Fprintf(w, "artifact  %-40s %s  %d signature(s), %d other referrer(s)\n", at, a.Digest, a.Signatures+a.Referrers, a.OtherReferrers)
	}
	for _, img := range tr.Images {
		if img.Skipped != "" {
			continue
		}
		fmt.Fprintf(w, "image     %-40s %s  %d signature(s)\n", img.Destination, img.MediaType, img.Signatures+img.Referrers)
	}
	fmt.Fprintf(w, "%d artifact(s), %d image(s) -> %s\n", len(tr.Artifacts), len(tr.Images), tr.Destination)
	return nil
}

// readCapped reads a small local file, refusing more than limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, errdef.ErrSizeExceedsLimit, limit)
	}
	return data, nil
}

// mirrorHint adds what to do next to a mirror failure.
func mirrorHint(err error, src, dst mirror.Location) error {
	var me *mirror.Error
	atSource := errors.As(err, &me) && me.Location == src.String()
	where := "one end"
	if me != nil {
		where = me.Location
	}
	switch {
	case errors.Is(err, errdef.ErrNoSignature):
		return withHint(err, "sign it at the source first: sealift sign %s --key cosign.key", src)
	case errors.Is(err, errdef.ErrSignatureInvalid), errors.Is(err, errdef.ErrPolicyViolation):
		return withHint(err, "check that each --key is the public half of a key that signed this digest")
	case errors.Is(err, fs.ErrExist):
		return withHint(err, "remove %s or choose another destination file", dst.Path)
	case errors.Is(err, errdef.ErrUnauthorized):
		return withHint(err, "log in with docker login, or pass --creds or --registry-config")
	case errors.Is(err, errdef.ErrUnsafePath), errors.Is(err, errdef.ErrSizeExceedsLimit):
		return withHint(err, "the input breaks sealift's limits; only mirror files written by 'sealift mirror' or another OCI layout tool you trust")
	case errors.Is(err, fs.ErrNotExist):
		return withHint(err, "check the paths: a layout or tar source must exist, and so must the directory a tar file is written to")
	case errors.Is(err, errdef.ErrNotFound) && atSource:
		return withHint(err, "check the tag or digest in %s (for a layout, the tags are listed in its index.json)", src)
	case errors.Is(err, errdef.ErrNotFound):
		return withHint(err, "check the destination %s", dst)
	case errors.Is(err, errdef.ErrDigestMismatch) && me != nil && me.Op == "resolve" && me.Location == dst.String():
		return withHint(err, "DST names a digest that is not the one SRC resolves to: name SRC by that digest (SRC@%s), or check that SRC is the artifact you meant", dst.Digest)
	case errors.Is(err, errdef.ErrDigestMismatch), errors.Is(err, errdef.ErrSizeMismatch):
		return withHint(err, "content does not match its digest: it was altered or damaged at %s; do not use it, and mirror again from a copy you trust", where)
	case errors.Is(err, errdef.ErrInvalidReference):
		return withHint(err, locationHint)
	}
	if me != nil && me.Op == "images" {
		return withHint(err, "the image %s could not be copied: check that it is reachable (its registry, or the layout or tar it should be in)", me.Location)
	}
	return withHint(err, "check that both ends are reachable (--insecure for plain HTTP registries, --creds or docker login for auth)")
}

// mirrorProgress draws "mirroring 2 artifacts, 5 images, 120.4 MB" on a
// terminal while a mirror runs longer than progressDelay. A nil
// *mirrorProgress does nothing: pipes, files and -o json get no progress.
type mirrorProgress struct {
	w io.Writer
	// bytes counts what is read from the sources (never started itself).
	bytes             progress
	artifacts, images atomic.Int64
	stop, done        chan struct{}
}

// startMirrorProgress returns a progress drawing on w, or nil when w is
// not a terminal.
func startMirrorProgress(w io.Writer) *mirrorProgress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newMirrorProgress(w)
}

// newMirrorProgress starts drawing on w, terminal or not.
func newMirrorProgress(w io.Writer) *mirrorProgress {
	p := &mirrorProgress{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// attach counts what opts reads and carries.
func (p *mirrorProgress) attach(opts *mirror.Options) {
	if p == nil {
		return
	}
	opts.WrapSource = p.bytes.track
	opts.OnItem = func(kind, _ string) {
		switch kind {
		case mirror.EntryArtifact:
			p.artifacts.Add(1)
		case mirror.EntryImage:
			p.images.Add(1)
		}
	}
}

func (p *mirrorProgress) run() { drawUntil(p.w, p.stop, p.done, p.draw) }

func (p *mirrorProgress) draw() {
	fmt.Fprintf(p.w, "\rmirroring %d artifact(s), %d image(s), %s read   ", p.artifacts.Load(), p.images.Load(), mb(p.bytes.n.Load()))
}

// finish stops drawing and ends the line if one was drawn.
func (p *mirrorProgress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
