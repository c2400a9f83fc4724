package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

// Key file names, as cosign names them.
const (
	privateKeyFile = "cosign.key"
	publicKeyFile  = "cosign.pub"
)

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage cosign-compatible signing keys",
	}
	cmd.AddCommand(newKeyGenerateCmd())
	return cmd
}

type keyGenerateOptions struct {
	outputDir string
}

func newKeyGenerateCmd() *cobra.Command {
	var o keyGenerateOptions
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a cosign-compatible key pair (cosign.key, cosign.pub)",
		Long: `Generate an ECDSA P-256 key pair in cosign's format: cosign.key, encrypted with a
password, and cosign.pub. The password is read from COSIGN_PASSWORD (which may be set
empty for an unencrypted-equivalent key), or asked for when run on a terminal.
Existing files are never overwritten.`,
		Example: `  COSIGN_PASSWORD=... sealift key generate --output-dir ./keys`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.outputDir, "output-dir", ".", "directory to write cosign.key and cosign.pub to (created when missing)")
	return cmd
}

func (o *keyGenerateOptions) run(cmd *cobra.Command) error {
	if err := os.MkdirAll(o.outputDir, 0o755); err != nil {
		return withHint(fmt.Errorf("--output-dir %s: %w", o.outputDir, err), "pass a directory that can be created and written to")
	}
	privPath := filepath.Join(o.outputDir, privateKeyFile)
	pubPath := filepath.Join(o.outputDir, publicKeyFile)
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return withHint(fmt.Errorf("%s already exists", p), "remove it or choose another --output-dir")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	password, err := keyPassword(true)
	if err != nil {
		return err
	}
	priv, pub, err := cosignfmt.GenerateKeyPair(password)
	if err != nil {
		return err
	}
	if err := writeNewFile(privPath, priv, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(pubPath, pub, 0o644); err != nil {
		_ = os.Remove(privPath)
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Private key written to %s\nPublic key written to %s\n", privPath, pubPath)
	return nil
}

// writeNewFile creates path with perm, failing if it exists.
func writeNewFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return withHint(fmt.Errorf("%s already exists", path), "remove it or choose another --output-dir")
		}
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// keyPassword returns the private key password: COSIGN_PASSWORD when set
// (even empty), otherwise asked for on the terminal (twice when confirm is
// set). Without a terminal and without the variable, a new key gets an
// error and an existing key is tried with the empty password.
func keyPassword(confirm bool) ([]byte, error) {
	if pw, ok := os.LookupEnv(cosignfmt.PasswordEnv); ok {
		return []byte(pw), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		if confirm {
			return nil, withHint(fmt.Errorf("no password: %s is not set and stdin is not a terminal", cosignfmt.PasswordEnv),
				"set %s to the password for the new key (it may be empty)", cosignfmt.PasswordEnv)
		}
		return []byte{}, nil
	}
	fmt.Fprint(os.Stderr, "Enter password for private key: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Enter password for private key again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}
