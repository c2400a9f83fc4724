package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sealift-dev/sealift/internal/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "sealift-registry:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, when set, receives the address served
// once the registry listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("sealift-registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "directory holding the registry's content (created if missing)")
	addr := fs.String("addr", registry.DefaultAddr, "listen address")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealift-registry --root DIR [--addr 127.0.0.1:5000]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the registry takes only flags", fs.Args())
	}
	if *root == "" {
		return errors.New("--root is required: the directory that holds the registry's content")
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		return fmt.Errorf("registry root %s: %w", *root, err)
	}
	srv, err := registry.Start(ctx, registry.Options{Root: *root, Addr: *addr})
	if err != nil {
		return fmt.Errorf("%w (choose a free address with --addr)", err)
	}
	fmt.Fprintf(stderr, "serving registry on http://%s from %s\n", srv.Addr, *root)
	if ready != nil {
		ready(srv.Addr)
	}
	return srv.Wait()
}
