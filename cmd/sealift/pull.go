package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/render"
	"github.com/sealift-dev/sealift/verify"
)

type pullOptions struct {
	dir          string
	semver       string
	semverFilter string
	keys         []string
	threshold    int
	sigs         signatureRepoOptions
	remote       remoteOptions
}

func newPullCmd() *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull oci://REPO[:TAG|@DIGEST] -o DIR",
		Short: "Download an artifact and extract its manifests into a directory",
		Long: `Resolve the reference to a digest, download exactly that digest (size and digest checked
while streaming), and extract its content into DIR, which must not exist or be empty. Prints
the digest. Archives holding absolute paths, "..", links or devices are refused.

With --key, the digest's signatures are checked first, as 'sealift verify' checks them, and
nothing is downloaded or written unless enough of the keys signed it.`,
		Example: `  sealift pull oci://registry.example.com/team/app:1.4.2 -o ./app
  sealift pull oci://127.0.0.1:5000/app@sha256:... -o ./app --insecure
  sealift pull oci://registry.example.com/team/app --semver '>=1.0.0 <2.0.0' -o ./app
  sealift pull oci://registry.example.com/team/app:1.4.2 -o ./app --key cosign.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd, args[0], &o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.dir, "output", "o", "", "directory to extract into (must not exist or be empty)")
	fs.StringVar(&o.semver, "semver", "", "pull the highest tag whose version satisfies this range, e.g. '>=1.0.0 <2.0.0' or '~1.4'")
	fs.StringVar(&o.semverFilter, "semver-filter", "", "with --semver, consider only tags matching this regular expression")
	fs.StringArrayVar(&o.keys, "key", nil, "pull only if signed by this public key (PEM); repeat for several keys")
	fs.IntVar(&o.threshold, "threshold", 1, "with --key, the number of distinct keys that must have signed")
	o.sigs.addFlags(fs)
	o.remote.addFlags(fs)
	return cmd
}

func runPull(cmd *cobra.Command, target string, o *pullOptions) error {
	if o.dir == "" {
		return withHint(errors.New("-o DIR is required"), "pass -o ./dir, a directory that does not exist yet")
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	if len(o.keys) == 0 && (o.sigs.repo != "" && cmd.Flags().Changed("signature-repository") || cmd.Flags().Changed("threshold")) {
		return withHint(errors.New("--signature-repository and --threshold apply to signature checks"), "add --key cosign.pub to check signatures before pulling")
	}
	ref, err := pull.ParseReference(target)
	if err != nil {
		return withHint(err, "use oci://host/repository:tag or oci://host/repository@sha256:...")
	}
	if err := o.validateSemver(target, ref); err != nil {
		return err
	}
	repo, err := o.remote.repository(ref)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.semver != "" {
		tag, err := pull.ResolveSemver(ctx, repo, o.semver, o.semverFilter)
		if err != nil {
			if errors.Is(err, errdef.ErrNotFound) {
				return withHint(err, "list the tags of %s and widen --semver or --semver-filter", ref.Repo())
			}
			return withHint(err, "check that the registry is reachable and lists tags for %s", ref.Repo())
		}
		ref.Tag = tag
	}
	ref = ref.WithDefaultTag()
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		if errors.Is(err, errdef.ErrUnauthorized) {
			return withHint(err, "log in with docker login %s, or pass --creds or --registry-config", ref.Registry)
		}
		if errors.Is(err, errdef.ErrNotFound) {
			return withHint(err, "check the repository %s and the tag or digest", ref.Repo())
		}
		return withHint(err, "check that the registry is reachable (--insecure for plain HTTP, --creds or docker login for auth)")
	}
	if len(o.keys) > 0 {
		if err := o.verify(ctx, repo, ref, desc); err != nil {
			return err
		}
	}
	// Extract streams the layers from the registry, checking size and
	// digest as they arrive, into a temporary directory it renames into
	// place only when everything held: no copy in memory, no second hash.
	prog := startProgress(cmd.ErrOrStderr(), "pulling")
	err = render.Extract(ctx, prog.track(repo), desc, o.dir, render.ExtractOptions{})
	prog.finish()
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return withHint(err, "remove %s or choose another -o directory", o.dir)
		}
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
	return err
}

// validateSemver checks --semver and --semver-filter against the reference.
func (o *pullOptions) validateSemver(target string, ref pull.Reference) error {
	if o.semver == "" {
		if o.semverFilter != "" {
			return withHint(errors.New("--semver-filter needs --semver"), "add --semver '*' to pick the highest version among the filtered tags")
		}
		return nil
	}
	if !ref.IsBare() {
		return withHint(fmt.Errorf("--semver picks the tag; %q already names one", target), "drop the :tag or @digest from the reference")
	}
	if err := pull.ValidateSemver(o.semver, o.semverFilter); err != nil {
		return withHint(err, "use a range like '>=1.0.0 <2.0.0', '~1.4' or '^2', and a valid regular expression")
	}
	return nil
}

// verify checks desc's signatures against --key before anything is
// downloaded.
func (o *pullOptions) verify(ctx context.Context, repo *orasremote.Repository, ref pull.Reference, desc ocispec.Descriptor) error {
	if o.threshold < 1 || o.threshold > len(o.keys) {
		return withHint(fmt.Errorf("--threshold %d with %d keys", o.threshold, len(o.keys)), "pass a threshold between 1 and the number of --key flags")
	}
	if err := o.sigs.validate(); err != nil {
		return err
	}
	policy, _, err := loadKeys(o.keys, o.threshold)
	if err != nil {
		return err
	}
	sigRepo, err := o.sigs.repository(&o.remote, repo)
	if err != nil {
		return err
	}
	if _, err := verify.Verify(ctx, sigRepo, desc, policy); err != nil {
		return withHint(fmt.Errorf("not pulled: %w", err), "check the signatures with sealift verify oci://%s@%s --key ...", ref.Repo(), desc.Digest)
	}
	return nil
}
