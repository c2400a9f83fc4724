package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"oras.land/oras-go/v2"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/pull"
)

// Signature formats accepted by --format.
const (
	signFormatLegacy = "legacy"
	signFormatBundle = "bundle"
	signFormatBoth   = "both"
)

type signOptions struct {
	key    string
	format string
	sigs   signatureRepoOptions
	remote remoteOptions
	output outputOptions
}

// signatureRepoEnv names the variable that moves signatures to another
// repository, as cosign reads it.
const signatureRepoEnv = "COSIGN_REPOSITORY"

// signatureRepoOptions is the flag for keeping signatures in a repository
// other than the artifact's; sign and verify embed it.
type signatureRepoOptions struct {
	repo string
	ref  pull.Reference // parsed by validate
}

func (o *signatureRepoOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.repo, "signature-repository", os.Getenv(signatureRepoEnv),
		"repository (host/path) holding the signatures instead of the artifact's own (default: $"+signatureRepoEnv+")")
}

func (o *signatureRepoOptions) validate() error {
	if o.repo == "" {
		return nil
	}
	ref, err := pull.ParseReference(o.repo)
	if err != nil || !ref.IsBare() {
		return withHint(fmt.Errorf("--signature-repository %q is not a repository", o.repo), "use host/path, without a tag or digest")
	}
	o.ref = ref
	return nil
}

// repository returns a client for the signature repository, or artifact
// itself when no override is set.
func (o *signatureRepoOptions) repository(remote *remoteOptions, artifact *orasremote.Repository) (*orasremote.Repository, error) {
	if o.repo == "" {
		return artifact, nil
	}
	// --creds were given for the artifact's registry; a signature
	// repository elsewhere gets its own docker-config entry.
	return remote.repositoryWith(o.ref, remote.pullOptions().BindCredentials(artifact.Reference.Registry))
}

func newSignCmd() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign oci://REPO@DIGEST --key cosign.key",
		Short: "Sign an artifact's digest with a cosign key",
		Long: `Sign the manifest an OCI reference names. A tag is resolved to its digest first and the
digest is what gets signed (and printed). Signatures are stored as cosign stores them:
  legacy  a simple-signing layer under the tag sha256-<hex>.sig (cosign v2 and v3 read it);
  bundle  a sigstore bundle v0.3 in a manifest whose subject is the digest, found through the
          referrers API or, on registries without it, the sha256-<hex> referrers tag (cosign v3);
  both    the two.
No transparency-log entry is written: cosign verifies with
'cosign verify --key cosign.pub --insecure-ignore-tlog=true'.
The key's password is read from COSIGN_PASSWORD, or asked for on a terminal.`,
		Example: `  sealift sign oci://registry.example/team/app@sha256:... --key cosign.key
  sealift sign oci://registry.example/team/app:1.4.2 --key cosign.key --format both
  COSIGN_REPOSITORY=registry.example/team/signatures sealift sign oci://registry.example/team/app:1.4.2 --key cosign.key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.key, "key", "", "cosign private key file (required)")
	fs.StringVar(&o.format, "format", signFormatLegacy, "signature format: legacy (the sha256-<hex>.sig tag, read by every cosign), bundle (a sigstore bundle stored as a referrer, as cosign v3 writes), or both")
	o.sigs.addFlags(fs)
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

func (o *signOptions) validate() error {
	if o.key == "" {
		return withHint(errors.New("--key is required"), "pass --key cosign.key (create one with 'sealift key generate')")
	}
	if err := validSignFormat("format", o.format); err != nil {
		return err
	}
	if err := o.sigs.validate(); err != nil {
		return err
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	return o.output.validate()
}

// signResult is what sign prints with -o json.
type signResult struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	// SignatureRepository is where the signatures were stored.
	SignatureRepository string `json:"signatureRepository"`
	// SignatureTag is the legacy signature tag, when a legacy signature was written.
	SignatureTag string `json:"signatureTag,omitempty"`
	// Bundle is the digest of the referrer manifest holding the bundle, when one was written.
	Bundle string `json:"bundle,omitempty"`
	Key    string `json:"key"`
}

func (o *signOptions) run(cmd *cobra.Command, arg string) error {
	ctx := cmd.Context()
	ref, err := pull.ParseReference(arg)
	if err != nil {
		return withHint(err, "use oci://host/repository@sha256:<digest> or oci://host/repository:tag")
	}
	ref = ref.WithDefaultTag()
	signer, err := loadSigner(o.key)
	if err != nil {
		return err
	}
	repo, err := o.remote.repository(ref)
	if err != nil {
		return err
	}
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	sigRepo, err := o.sigs.repository(&o.remote, repo)
	if err != nil {
		return err
	}
	res := signResult{
		Reference:           ref.Repo() + "@" + desc.Digest.String(),
		Digest:              desc.Digest.String(),
		SignatureRepository: sigRepo.Reference.Registry + "/" + sigRepo.Reference.Repository,
		Key:                 cosignfmt.Fingerprint(signer.Public()),
	}
	if err := signWith(ctx, sigRepo, desc, ref.Repo(), signer, o.format, &res); err != nil {
		return err
	}
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Signed %s\n", res.Reference)
	return nil
}

// validSignFormat checks the value of a signature format flag.
func validSignFormat(flag, format string) error {
	switch format {
	case signFormatLegacy, signFormatBundle, signFormatBoth:
		return nil
	}
	return withHint(fmt.Errorf("unknown --%s %q", flag, format), "use --%s legacy, bundle or both", flag)
}

// loadSigner reads an encrypted cosign private key, with the password from
// COSIGN_PASSWORD or the terminal.
func loadSigner(path string) (crypto.Signer, error) {
	password, err := keyPassword(false)
	if err != nil {
		return nil, err
	}
	signer, err := cosignfmt.LoadPrivateKeyFile(path, password)
	if err != nil {
		if errors.Is(err, errdef.ErrInvalidKey) {
			return nil, withHint(err, "set %s to the password the key was generated with", cosignfmt.PasswordEnv)
		}
		return nil, err
	}
	return signer, nil
}

// signWith writes the signatures format asks for over desc into sigRepo
// and records where they went in res.
func signWith(ctx context.Context, sigRepo oras.Target, desc ocispec.Descriptor, dockerRef string, signer crypto.Signer, format string, res *signResult) error {
	if format == signFormatLegacy || format == signFormatBoth {
		if err := cosignfmt.SignLegacy(ctx, sigRepo, desc, dockerRef, signer); err != nil {
			return err
		}
		res.SignatureTag = cosignfmt.LegacySignatureTag(desc.Digest)
	}
	if format == signFormatBundle || format == signFormatBoth {
		m, err := cosignfmt.SignBundle(ctx, sigRepo, desc, signer)
		if err != nil {
			return err
		}
		res.Bundle = m.Digest.String()
	}
	return nil
}
