package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/errdef"
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
	remote remoteOptions
	output outputOptions
}

func newSignCmd() *cobra.Command {
	var o signOptions
	cmd := &cobra.Command{
		Use:   "sign oci://REPO@DIGEST --key cosign.key",
		Short: "Sign an artifact's digest with a cosign key",
		Long: `Sign the manifest an OCI reference names. A tag is resolved to its digest first and the
digest is what gets signed (and printed). The signature is stored as cosign does, under the
tag sha256-<hex>.sig in the same repository; cosign verifies it with
'cosign verify --key cosign.pub --insecure-ignore-tlog'.
The key's password is read from COSIGN_PASSWORD, or asked for on a terminal.`,
		Example: `  sealift sign oci://registry.example/team/app@sha256:... --key cosign.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.key, "key", "", "cosign private key file (required)")
	fs.StringVar(&o.format, "format", signFormatLegacy, "signature format: legacy (bundle and both are not supported yet)")
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

func (o *signOptions) validate() error {
	if o.key == "" {
		return withHint(errors.New("--key is required"), "pass --key cosign.key (create one with 'sealift key generate')")
	}
	switch o.format {
	case signFormatLegacy:
	case signFormatBundle, signFormatBoth:
		return withHint(fmt.Errorf("--format %s is not supported yet", o.format), "use --format legacy")
	default:
		return withHint(fmt.Errorf("unknown --format %q", o.format), "use --format legacy")
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	return o.output.validate()
}

// signResult is what sign prints with -o json.
type signResult struct {
	Reference    string `json:"reference"`
	Digest       string `json:"digest"`
	SignatureTag string `json:"signatureTag"`
	Key          string `json:"key"`
}

func (o *signOptions) run(cmd *cobra.Command, arg string) error {
	ctx := cmd.Context()
	ref, err := pull.ParseReference(arg)
	if err != nil {
		return withHint(err, "use oci://host/repository@sha256:<digest> or oci://host/repository:tag")
	}
	password, err := keyPassword(false)
	if err != nil {
		return err
	}
	signer, err := cosignfmt.LoadPrivateKeyFile(o.key, password)
	if err != nil {
		if errors.Is(err, errdef.ErrInvalidKey) {
			return withHint(err, "set %s to the password the key was generated with", cosignfmt.PasswordEnv)
		}
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
	if err := cosignfmt.SignLegacy(ctx, repo, desc, ref.Repo(), signer); err != nil {
		return err
	}
	res := signResult{
		Reference:    ref.Repo() + "@" + desc.Digest.String(),
		Digest:       desc.Digest.String(),
		SignatureTag: cosignfmt.LegacySignatureTag(desc.Digest),
		Key:          cosignfmt.Fingerprint(signer.Public()),
	}
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Signed %s\n", res.Reference)
	return nil
}
