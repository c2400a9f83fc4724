package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/mirror"
)

type mirrorOptions struct {
	keys   []string
	remote remoteOptions
	output outputOptions
}

func newMirrorCmd() *cobra.Command {
	var o mirrorOptions
	cmd := &cobra.Command{
		Use:   "mirror SRC DST",
		Short: "Copy an artifact with its signatures between registries, OCI layouts and tar files",
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
written; after the copy the same check must pass at DST (before a tar file is written).`,
		Example: `  sealift mirror oci://registry.example/team/app:1.4.2 tar:app-1.4.2.tar --key cosign.pub
  sealift mirror tar:app-1.4.2.tar oci://mirror.internal:5000/team/app --key cosign.pub
  sealift mirror oci://registry.example/team/app@sha256:... oci-layout:./layout:1.4.2 -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.validate(); err != nil {
				return err
			}
			if err := o.output.validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0], args[1])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.keys, "key", nil, "public key (PEM) the artifact must be signed with at SRC before it is copied; repeat for several, any one suffices")
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

// locationHint says how to write SRC and DST.
const locationHint = "use oci://host/repository[:tag|@sha256:...], oci-layout:DIR[:tag] or tar:FILE[:tag]"

func (o *mirrorOptions) run(cmd *cobra.Command, srcArg, dstArg string) error {
	src, err := mirror.ParseLocation(srcArg)
	if err != nil {
		return withHint(err, locationHint)
	}
	dst, err := mirror.ParseLocation(dstArg)
	if err != nil {
		return withHint(err, locationHint)
	}
	opts := mirror.Options{Remote: o.remote.pullOptions()}
	if len(o.keys) > 0 {
		policy, _, err := loadKeys(o.keys, 1)
		if err != nil {
			return err
		}
		opts.Policy = &policy
	}
	res, err := mirror.Mirror(cmd.Context(), src, dst, opts)
	if err != nil {
		return mirrorHint(err, src, dst)
	}
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
	return err
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
	return withHint(err, "check that both ends are reachable (--insecure for plain HTTP registries, --creds or docker login for auth)")
}
