package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
)

// registryBinary serves the registry; it is a binary of its own so that the
// registry server's ~200 packages stay out of every other command's start-up.
const registryBinary = "sealift-registry"

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI registry (for air-gapped sites and trying sealift out)",
	}
	cmd.AddCommand(newRegistryServeCmd())
	return cmd
}

type registryServeOptions struct {
	root string
	addr string
}

func newRegistryServeCmd() *cobra.Command {
	var o registryServeOptions
	cmd := &cobra.Command{
		Use:   "serve --root DIR [--addr 127.0.0.1:5000]",
		Short: "Serve the CNCF distribution registry from a directory",
		Long: `Serve the CNCF distribution registry from a directory.

The server is the sealift-registry binary, found beside sealift or on PATH
(make build puts both in bin/); this command runs it in its place.`,
		Example: `  sealift registry serve --root /var/lib/sealift-registry
  sealift registry serve --root ./registry --addr 127.0.0.1:5001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.root == "" {
				return withHint(errors.New("--root is required"), "pass --root DIR, the directory that holds the registry's content")
			}
			bin, err := findCompanion(registryBinary)
			if err != nil {
				return err
			}
			argv := []string{registryBinary, "--root", o.root}
			if cmd.Flags().Changed("addr") {
				argv = append(argv, "--addr", o.addr)
			}
			return runInPlace(cmd, bin, argv)
		},
	}
	cmd.Flags().StringVar(&o.root, "root", "", "directory holding the registry's content (created if missing)")
	cmd.Flags().StringVar(&o.addr, "addr", "", "listen address (default: the registry's, loopback port 5000, so nothing is exposed by accident)")
	return cmd
}

// runInPlace runs bin with argv in place of this process, so signals and the
// exit status are the server's own. Where a process cannot be replaced
// (Windows), bin runs as a child with this process's standard streams.
func runInPlace(cmd *cobra.Command, bin string, argv []string) error {
	if runtime.GOOS != "windows" {
		if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
			return fmt.Errorf("run %s: %w", bin, err)
		}
		return nil
	}
	child := exec.CommandContext(cmd.Context(), bin, argv[1:]...)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := child.Run(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return nil
}

// findCompanion finds one of sealift's companion binaries (the registry,
// the controller) beside the running sealift first, then on PATH.
func findCompanion(binary string) (string, error) {
	name := binary
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(self), name)
		if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return beside, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", withHint(fmt.Errorf("%s not found beside sealift or on PATH", binary),
		"build it with `make build` (bin/%[1]s) or `go install ./cmd/%[1]s`, and put it beside sealift", binary)
}
