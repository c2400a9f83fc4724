package main

import (
	"bytes"
	"context"
	"testing"
)

// execute runs the root command with args, as `sealift args...` would.
func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// runCLI returns what the command printed on stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := execute(t, args...)
	return out, err
}

// run returns stdout and stderr together, for checks on messages.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := execute(t, args...)
	return out + errOut, err
}
