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
	cmd.AddCommand(newRegistryServeCmd(), newRegistryGCCmd())
	return cmd
}

type registryServeOptions struct {
	root     string
	addr     string
	tlsCert  string
	tlsKey   string
	htpasswd string
	readOnly bool
}

func newRegistryServeCmd() *cobra.Command {
	var o registryServeOptions
	cmd := &cobra.Command{
		Use:   "serve --root DIR [--addr 127.0.0.1:5000] [--tls-cert FILE --tls-key FILE] [--htpasswd FILE] [--read-only]",
		Short: "Serve the CNCF distribution registry from a directory",
		Long: `Serve the CNCF distribution registry from a directory.

For an air-gapped site: --tls-cert and --tls-key serve HTTPS (clients pass the CA
with --ca-file, or a Sync's certSecretRef); --htpasswd requires basic auth from
the users of an htpasswd file with bcrypt entries (htpasswd -B; other hashes are
refused at start, and a missing file is not created); --read-only serves pulls
and refuses pushes, tag moves and deletes with a message saying so.

The server is the sealift-registry binary, found beside sealift or on PATH
(make build puts both in bin/); this command runs it in its place.`,
		Example: `  sealift registry serve --root /var/lib/sealift-registry
  sealift registry serve --root ./registry --addr 127.0.0.1:5001
  sealift registry serve --root /srv/registry --addr 0.0.0.0:5443 \
    --tls-cert server.pem --tls-key server-key.pem --htpasswd /etc/sealift/htpasswd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.root == "" {
				return withHint(errors.New("--root is required"), "pass --root DIR, the directory that holds the registry's content")
			}
			if (o.tlsCert == "") != (o.tlsKey == "") {
				return withHint(errors.New("--tls-cert and --tls-key go together"), "pass the server certificate and its private key")
			}
			bin, err := findCompanion(registryBinary)
			if err != nil {
				return err
			}
			argv := []string{registryBinary, "serve", "--root", o.root}
			if cmd.Flags().Changed("addr") {
				argv = append(argv, "--addr", o.addr)
			}
			if o.tlsCert != "" {
				argv = append(argv, "--tls-cert", o.tlsCert, "--tls-key", o.tlsKey)
			}
			if o.htpasswd != "" {
				argv = append(argv, "--htpasswd", o.htpasswd)
			}
			if o.readOnly {
				argv = append(argv, "--read-only")
			}
			return runInPlace(cmd, bin, argv)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "directory holding the registry's content (created if missing)")
	f.StringVar(&o.addr, "addr", "", "listen address (default: the registry's, loopback port 5000, so nothing is exposed by accident)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM server certificate (with its chain): serve HTTPS")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.htpasswd, "htpasswd", "", "htpasswd file of bcrypt entries: every request needs one of its users")
	f.BoolVar(&o.readOnly, "read-only", false, "serve pulls only; refuse pushes, tag moves and deletes")
	return cmd
}

type registryGCOptions struct {
	root   string
	dryRun bool
	output outputOptions
}

func newRegistryGCCmd() *cobra.Command {
	var o registryGCOptions
	cmd := &cobra.Command{
		Use:   "gc --root DIR [--dry-run] [-o json]",
		Short: "Delete the blobs no manifest in a registry directory references",
		Long: `Delete the blobs of a registry directory that no manifest references, with the
distribution registry's own mark and sweep. Every manifest is kept, tagged or not
(signatures and other referrers are rarely tagged), with everything it references;
blobs left behind by deleted manifests or uploads never referenced are deleted, with
the repositories' links to them and unfinished uploads.

gc refuses a directory that a running registry serves (stop it first), and a
registry does not start while gc runs. --dry-run lists what would be deleted.`,
		Example: `  sealift registry gc --root /var/lib/sealift-registry --dry-run
  sealift registry gc --root /var/lib/sealift-registry -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.root == "" {
				return withHint(errors.New("--root is required"), "pass --root DIR, the directory the registry serves")
			}
			if err := o.output.validate(); err != nil {
				return err
			}
			bin, err := findCompanion(registryBinary)
			if err != nil {
				return err
			}
			argv := []string{registryBinary, "gc", "--root", o.root}
			if o.dryRun {
				argv = append(argv, "--dry-run")
			}
			if o.output.json() {
				argv = append(argv, "--json")
			}
			return runInPlace(cmd, bin, argv)
		},
	}
	cmd.Flags().StringVar(&o.root, "root", "", "directory holding the registry's content")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be deleted; delete nothing")
	o.output.addFlags(cmd.Flags())
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
