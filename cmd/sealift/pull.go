package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
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
	// Every flag, the key files and the output directory are checked before
	// the registry is reached.
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
	var policy verify.Policy
	if len(o.keys) > 0 {
		if policy, err = o.policy(); err != nil {
			return err
		}
	}
	if err := checkEmptyDir(o.dir); err != nil {
		return withHint(err, "remove %s or choose another -o directory", o.dir)
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
		if err := o.verify(ctx, repo, ref, desc, policy); err != nil {
			return err
		}
	}
	prog := startProgress(cmd.ErrOrStderr(), "pulling")
	err = fetchExtract(ctx, prog.track(repo), desc, o.dir)
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

// fetchExtract takes desc from src as a sync does: pull.Fetch copies
// exactly that digest's graph into a scratch OCI layout (every blob checked
// against its descriptor while it streams, the graph held to the fetch
// limits), and render.Extract writes its content layers into dir from
// there (re-checked on read), as render.FromArtifact does from the cache.
// The scratch layout is removed afterwards.
func fetchExtract(ctx context.Context, src oras.ReadOnlyTarget, desc ocispec.Descriptor, dir string) error {
	scratch, err := os.MkdirTemp("", "sealift-pull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	store, err := oci.NewWithContext(ctx, scratch)
	if err != nil {
		return fmt.Errorf("pull: scratch layout: %w", err)
	}
	if err := pull.Fetch(ctx, src, desc, store, pull.FetchOptions{}); err != nil {
		return err
	}
	return render.Extract(ctx, store, desc, dir, render.ExtractOptions{})
}

// checkEmptyDir refuses a dir that exists and is not an empty directory,
// before anything is downloaded; render.Extract checks again when it
// renames the content into place.
func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("-o %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("-o %s is not empty: %w", dir, os.ErrExist)
	}
	return nil
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
		return withHint(fmt.Errorf("--semver %q: %w", o.semver, err), "use a range like '>=1.0.0 <2.0.0', '~1.4' or '^2', and a valid regular expression")
	}
	return nil
}

// policy checks --threshold and --signature-repository and reads the --key
// files into the policy pull enforces.
func (o *pullOptions) policy() (verify.Policy, error) {
	if o.threshold < 1 || o.threshold > len(o.keys) {
		return verify.Policy{}, withHint(fmt.Errorf("--threshold %d with %d keys", o.threshold, len(o.keys)), "pass a threshold between 1 and the number of --key flags")
	}
	if err := o.sigs.validate(); err != nil {
		return verify.Policy{}, err
	}
	policy, _, err := loadKeys(o.keys, o.threshold)
	return policy, err
}

// verify checks desc's signatures against policy before anything is
// downloaded.
func (o *pullOptions) verify(ctx context.Context, repo *orasremote.Repository, ref pull.Reference, desc ocispec.Descriptor, policy verify.Policy) error {
	sigRepo, err := o.sigs.repository(&o.remote, repo)
	if err != nil {
		return err
	}
	if _, err := verify.Verify(ctx, sigRepo, desc, policy); err != nil {
		return withHint(fmt.Errorf("not pulled: %w", err), "check the signatures with sealift verify oci://%s@%s --key ...", ref.Repo(), desc.Digest)
	}
	return nil
}
