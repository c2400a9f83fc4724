package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    error
		message string
	}{
		"help":            {args: []string{"--help"}, want: pflag.ErrHelp},
		"bad log level":   {args: []string{"--log-level", "loud"}, message: "--log-level"},
		"bad encoding":    {args: []string{"--log-encoding", "xml"}, message: "--log-encoding"},
		"bad selector":    {args: []string{"--watch-label-selector", "a in (b"}, message: "--watch-label-selector"},
		"no workers":      {args: []string{"--concurrent", "0"}, message: "--concurrent"},
		"stray arguments": {args: []string{"extra"}, message: "unexpected arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), tc.args, &stderr)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.message != "" && (err == nil || !strings.Contains(err.Error(), tc.message)) {
				t.Fatalf("err = %v, want one naming %s", err, tc.message)
			}
		})
	}
}
