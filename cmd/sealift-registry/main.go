package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sealift-dev/sealift/internal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "sealift-registry:", err)
		os.Exit(1)
	}
}

// run runs the command args name: "serve" (also when args start with a
// flag, the form before gc existed) or "gc". ready, when set, receives the
// address served once the registry listens.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "serve":
			return serve(ctx, args[1:], stderr, ready)
		case "gc":
			return gc(ctx, args[1:], stdout, stderr)
		default:
			return fmt.Errorf("unknown command %q: want serve or gc", args[0])
		}
	}
	return serve(ctx, args, stderr, ready)
}

func serve(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("sealift-registry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "directory holding the registry's content (created if missing)")
	addr := fs.String("addr", registry.DefaultAddr, "listen address")
	certFile := fs.String("tls-cert", "", "PEM certificate (with its chain) to serve HTTPS with; needs --tls-key")
	keyFile := fs.String("tls-key", "", "PEM private key of --tls-cert")
	htpasswd := fs.String("htpasswd", "", "htpasswd file of bcrypt entries (htpasswd -B); every request then needs one of its users")
	readOnly := fs.Bool("read-only", false, "serve pulls only: pushes, tag moves and deletes are refused")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealift-registry [serve] --root DIR [--addr 127.0.0.1:5000] [--tls-cert FILE --tls-key FILE] [--htpasswd FILE] [--read-only]")
		fmt.Fprintln(stderr, "       sealift-registry gc --root DIR [--dry-run] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: serve takes only flags", fs.Args())
	}
	if *root == "" {
		return errors.New("--root is required: the directory that holds the registry's content")
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("--tls-cert and --tls-key go together: pass the server certificate and its key")
	}
	opts := registry.Options{Root: *root, Addr: *addr, Htpasswd: *htpasswd, ReadOnly: *readOnly}
	scheme := "http"
	if *certFile != "" {
		cfg, err := registry.ServerTLS(*certFile, *keyFile)
		if err != nil {
			return err
		}
		opts.TLS, scheme = cfg, "https"
	}
	if *htpasswd != "" && opts.TLS == nil && !loopback(*addr) {
		fmt.Fprintf(stderr, "warning: --htpasswd without TLS on %s sends passwords in the clear; add --tls-cert and --tls-key\n", *addr)
	}
	srv, err := registry.Start(ctx, opts)
	var opErr *net.OpError
	switch {
	case errors.Is(err, registry.ErrBadHtpasswd):
		return fmt.Errorf("%w (make one with `htpasswd -Bc FILE USER`)", err)
	case errors.As(err, &opErr) && opErr.Op == "listen":
		return fmt.Errorf("%w (choose a free address with --addr)", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(stderr, "serving registry on %s://%s from %s%s\n", scheme, srv.Addr, *root, modes(opts))
	if ready != nil {
		ready(srv.Addr)
	}
	return srv.Wait()
}

// modes describes the options beyond root and address, for the start line.
func modes(o registry.Options) string {
	var m []string
	if o.Htpasswd != "" {
		m = append(m, "htpasswd auth from "+o.Htpasswd)
	}
	if o.ReadOnly {
		m = append(m, "read-only")
	}
	if len(m) == 0 {
		return ""
	}
	return " (" + strings.Join(m, ", ") + ")"
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func gc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sealift-registry gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "directory holding the registry's content")
	dryRun := fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealift-registry gc --root DIR [--dry-run] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: gc takes only flags", fs.Args())
	}
	if *root == "" {
		return errors.New("--root is required: the directory that holds the registry's content")
	}
	rep, err := registry.GC(ctx, *root, registry.GCOptions{DryRun: *dryRun})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	verb, done := "deleted", "deleted"
	if rep.DryRun {
		verb, done = "would delete", "would be deleted (dry run: nothing was deleted)"
	}
	for _, b := range rep.Deleted {
		fmt.Fprintf(stdout, "%s blob %s (%d bytes)\n", verb, b.Digest, b.Size)
	}
	fmt.Fprintf(stdout, "%d unreferenced blobs (%d bytes), %d repository links and %d unfinished uploads %s; %d blobs kept\n",
		len(rep.Deleted), rep.BytesFreed, len(rep.Links), rep.Uploads, done, rep.Kept)
	return nil
}
