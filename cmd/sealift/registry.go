package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sealift-dev/sealift/internal/registry"
)

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
		Example: `  sealift registry serve --root /var/lib/sealift-registry
  sealift registry serve --root ./registry --addr 127.0.0.1:5001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.root == "" {
				return withHint(fmt.Errorf("--root is required"), "pass --root DIR, the directory that holds the registry's content")
			}
			if err := os.MkdirAll(o.root, 0o755); err != nil {
				return fmt.Errorf("registry root %s: %w", o.root, err)
			}
			srv, err := registry.Start(cmd.Context(), registry.Options{Root: o.root, Addr: o.addr})
			if err != nil {
				return withHint(err, "choose a free address with --addr")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "serving registry on http://%s from %s\n", srv.Addr, o.root)
			return srv.Wait()
		},
	}
	cmd.Flags().StringVar(&o.root, "root", "", "directory holding the registry's content (created if missing)")
	cmd.Flags().StringVar(&o.addr, "addr", registry.DefaultAddr, "listen address")
	return cmd
}
