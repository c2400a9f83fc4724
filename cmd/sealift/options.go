package main

import (
	"crypto"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/verify"
)

// outputOptions selects human or machine (-o json) output.
type outputOptions struct {
	Format string
}

func (o *outputOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Format, "output", "o", "text", "output format: text or json")
}

func (o *outputOptions) validate() error {
	switch o.Format {
	case "text", "json":
		return nil
	}
	return withHint(fmt.Errorf("-o %q: unknown output format", o.Format), "use -o text or -o json")
}

func (o *outputOptions) json() bool { return o.Format == "json" }

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// loadKeys reads the trusted public keys named by --key into a policy that
// enforces threshold, and maps each key's fingerprint to its file for
// messages.
func loadKeys(paths []string, threshold int) (verify.Policy, map[string]string, error) {
	policy := verify.Policy{Mode: verify.Enforce, Threshold: threshold}
	names := map[string]string{}
	for _, path := range paths {
		pub, err := cosignfmt.LoadPublicKeyFile(path)
		if err != nil {
			return verify.Policy{}, nil, withHint(err, "pass a PEM public key such as the cosign.pub written by 'sealift key generate'")
		}
		policy.Keys = append(policy.Keys, crypto.PublicKey(pub))
		names[cosignfmt.Fingerprint(pub)] = path
	}
	return policy, names, nil
}
