package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
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
	return withHint(fmt.Errorf("unknown output format %q", o.Format), "use -o text or -o json")
}

func (o *outputOptions) json() bool { return o.Format == "json" }

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
