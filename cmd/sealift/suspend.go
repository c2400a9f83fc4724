package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newSuspendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suspend",
		Short: "Stop the controller from reconciling an object",
	}
	cmd.AddCommand(newSuspendSyncCmd())
	return cmd
}

func newResumeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Let the controller reconcile a suspended object again, and wait for the outcome",
	}
	cmd.AddCommand(newResumeSyncCmd())
	return cmd
}

type suspendSyncOptions struct {
	kube kubeOptions
	ns   namespaceOptions
}

func newSuspendSyncCmd() *cobra.Command {
	var o suspendSyncOptions
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Suspend a Sync: nothing is resolved, verified, applied or pruned until it is resumed",
		Long: `Set spec.suspend of a Sync to true. The controller then leaves the Sync and what it
applied alone (no apply, no drift correction, no prune) until 'sealift resume sync'. Deleting
a suspended Sync keeps its objects.`,
		Example: `  sealift suspend sync podinfo -n sealift-system`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.ns.validate(); err != nil {
				return err
			}
			ns, api, err := o.ns.connect(&o.kube)
			if err != nil {
				return err
			}
			s, err := api.patch(cmd.Context(), ns, args[0], []byte(`{"spec":{"suspend":true}}`))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✔ Sync %s/%s suspended\n", s.Namespace, s.Name)
			return nil
		},
	}
	o.ns.addFlags(cmd.Flags(), false)
	o.kube.addFlags(cmd.Flags())
	return cmd
}

type resumeSyncOptions struct {
	kube kubeOptions
	ns   namespaceOptions
	wait waitOptions
}

func newResumeSyncCmd() *cobra.Command {
	var o resumeSyncOptions
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Resume a Sync, reconcile it at once and print the outcome",
		Long: `Clear spec.suspend of a Sync and, in the same change, request a reconcile (as 'sealift
reconcile sync' does); then wait until the controller has handled it and print the outcome.
The exit status is 0 when the Sync is Ready afterwards.`,
		Example: `  sealift resume sync podinfo -n sealift-system`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.ns.validate(); err != nil {
				return err
			}
			if err := o.wait.validate(); err != nil {
				return err
			}
			ns, api, err := o.ns.connect(&o.kube)
			if err != nil {
				return err
			}
			// A merge patch's null removes spec.suspend (false is its zero value).
			return requestReconcile(cmd, api, ns, args[0], map[string]any{"suspend": nil}, o.wait.Timeout)
		},
	}
	o.wait.addFlags(cmd.Flags())
	o.ns.addFlags(cmd.Flags(), false)
	o.kube.addFlags(cmd.Flags())
	return cmd
}
