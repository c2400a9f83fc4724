package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/sealift-dev/sealift/internal/controller"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, pflag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "sealift-controller:", err)
		os.Exit(1)
	}
}

// run parses args and runs the controller until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("sealift-controller", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var o controller.Options
	o.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealift-controller [flags]  (also run as `sealift controller`)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: the controller takes only flags", fs.Args())
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return controller.Run(ctx, o)
}
