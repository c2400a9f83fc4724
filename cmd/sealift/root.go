package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sealift-dev/sealift/reconcile"
)

func newRootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "sealift",
		Short:         "GitOps delivery from signed OCI artifacts",
		Long:          "sealift pushes rendered Kubernetes manifests as signed OCI artifacts, and pulls, verifies,\ncaches and applies them with server-side apply.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(
		newPushCmd(),
		newPullCmd(),
		newVerifyCmd(),
		newSignCmd(),
		newKeyCmd(),
		newSyncCmd(),
		newCacheCmd(),
		newRegistryCmd(),
		newDiffCmd(),
		newMirrorCmd(),
		newControllerCmd(),
		newCreateCmd(),
		newGetCmd(),
		newReconcileCmd(),
		newSuspendCmd(),
		newResumeCmd(),
		newTreeCmd(),
		newEventsCmd(),
		newVersionCmd(),
		newInstallCmd(),
		newUninstallCmd(),
		newCheckCmd(),
	)
	return cmd
}

// hintError is an error with a recommendation telling the user what to do next.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHint attaches a recommendation line to err.
func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// printError writes "Error: ..." and, when there is one, the recommendation.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "Error: %v\n", err)
	var h *hintError
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(w, "Recommendation: %s\n", h.hint)
	}
}

// exitSourceUnavailable is the exit status of `sync --once` when no source
// could be reached and the last verified revision was re-applied from the
// cache instead: the cluster is in a known good state, but maybe not the
// newest one.
const exitSourceUnavailable = 3

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	var unavailable *reconcile.SourceUnavailableError
	if errors.As(err, &unavailable) {
		return exitSourceUnavailable
	}
	return 1
}
