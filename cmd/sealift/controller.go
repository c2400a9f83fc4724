package main

import (
	"slices"

	"github.com/spf13/cobra"
)

// controllerBinary is the in-cluster engine; it is a binary of its own so
// that controller-runtime's manager, Prometheus and zap stay out of every
// other command's start-up (linked in, `sealift --help` took ~1.5x as long).
const controllerBinary = "sealift-controller"

func newControllerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controller [flags]",
		Short: "Run the in-cluster engine: reconcile every Sync continuously",
		Long: `Run the in-cluster engine: a controller that reconciles every Sync it watches
through the same pipeline as 'sealift sync --once', with a finalizer that prunes
what a deleted Sync applied, events, Prometheus metrics, health endpoints and
optional leader election.

The engine is the sealift-controller binary, found beside sealift or on PATH
(make build puts it in bin/); this command runs it in its place with the same
flags. 'sealift controller --help' lists them.`,
		Example: `  sealift controller --kubeconfig ~/.kube/config --cache-dir /tmp/sealift-cache --log-encoding console
  sealift controller --enable-leader-election --concurrent 8 --watch-label-selector shard=a`,
		// Flags belong to sealift-controller and are passed through as given.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := findCompanion(controllerBinary)
			if err != nil {
				if slices.Contains(args, "-h") || slices.Contains(args, "--help") {
					_ = cmd.Help()
				}
				return err
			}
			return runInPlace(cmd, bin, append([]string{controllerBinary}, args...))
		},
	}
	return cmd
}
