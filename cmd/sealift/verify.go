package main

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/errdef"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

type verifyOptions struct {
	keys      []string
	threshold int
	remote    remoteOptions
	output    outputOptions
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify oci://REPO[:TAG|@DIGEST] --key cosign.pub [--key ...]",
		Short: "Check that an artifact's digest is signed by enough trusted keys",
		Long: `Resolve the reference to a digest and check the signatures stored for that digest
against the given public keys. Exit 0 only when at least --threshold distinct keys signed
exactly this digest.`,
		Example: `  sealift verify oci://registry.example/team/app:1.4.2 --key cosign.pub
  sealift verify oci://registry.example/team/app@sha256:... --key a.pub --key b.pub --threshold 2 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.keys, "key", nil, "trusted public key file (PEM); repeat for several keys")
	fs.IntVar(&o.threshold, "threshold", 1, "number of distinct keys that must have signed")
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

func (o *verifyOptions) validate() error {
	if len(o.keys) == 0 {
		return withHint(errors.New("--key is required"), "pass the public key that signed the artifact: --key cosign.pub")
	}
	if o.threshold < 1 || o.threshold > len(o.keys) {
		return withHint(fmt.Errorf("--threshold %d with %d keys", o.threshold, len(o.keys)),
			"use a threshold between 1 and the number of --key flags")
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	return o.output.validate()
}

// verifyResult is what verify prints with -o json.
type verifyResult struct {
	Reference string `json:"reference"`
	verify.Verdict
}

func (o *verifyOptions) run(cmd *cobra.Command, arg string) error {
	ctx := cmd.Context()
	ref, err := pull.ParseReference(arg)
	if err != nil {
		return withHint(err, "use oci://host/repository:tag or oci://host/repository@sha256:<digest>")
	}
	policy := verify.Policy{Mode: verify.Enforce, Threshold: o.threshold}
	names := map[string]string{} // fingerprint -> key file
	for _, path := range o.keys {
		pub, err := cosignfmt.LoadPublicKeyFile(path)
		if err != nil {
			return withHint(err, "pass a PEM public key such as the cosign.pub written by 'sealift key generate'")
		}
		policy.Keys = append(policy.Keys, crypto.PublicKey(pub))
		names[cosignfmt.Fingerprint(pub)] = path
	}
	repo, err := o.remote.repository(ref)
	if err != nil {
		return err
	}
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	verdict, verr := verify.Verify(ctx, repo, desc, policy)
	res := verifyResult{Reference: ref.Repo() + "@" + desc.Digest.String(), Verdict: verdict}
	out := cmd.OutOrStdout()
	if o.output.json() {
		if err := writeJSON(out, res); err != nil {
			return err
		}
	} else if verr == nil {
		fmt.Fprintf(out, "Verified %s\n", res.Reference)
		for _, fp := range verdict.Signers {
			fmt.Fprintf(out, "  signed by %s (%s)\n", fp, names[fp])
		}
	}
	if verr != nil {
		switch {
		case errors.Is(verr, errdef.ErrNoSignature):
			return withHint(verr, "sign it: sealift sign oci://%s --key cosign.key", res.Reference)
		case errors.Is(verr, errdef.ErrSignatureInvalid):
			return withHint(verr, "check that each --key is the public half of a key that signed this digest")
		}
		return verr
	}
	return nil
}
