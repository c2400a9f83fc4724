package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// defaultWaitTimeout bounds how long reconcile and resume wait for the
// controller: a Sync's own reconcile is bounded by its spec.timeout, 5m
// unless set, so waiting as long covers one whole reconcile.
const defaultWaitTimeout = sealiftv1.DefaultTimeout

// waitOptions is --timeout of the commands that wait for the controller.
type waitOptions struct {
	Timeout time.Duration
}

func (o *waitOptions) addFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Timeout, "timeout", defaultWaitTimeout, "how long to wait for the controller to handle the request")
}

func (o *waitOptions) validate() error {
	if o.Timeout <= 0 {
		return withHint(fmt.Errorf("--timeout %s: must be positive", o.Timeout), "pass a duration such as 2m")
	}
	return nil
}

func newReconcileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Ask the controller to reconcile an object now, and wait for the outcome",
	}
	cmd.AddCommand(newReconcileSyncCmd())
	return cmd
}

type reconcileSyncOptions struct {
	kube kubeOptions
	ns   namespaceOptions
	wait waitOptions
}

func newReconcileSyncCmd() *cobra.Command {
	var o reconcileSyncOptions
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Reconcile a Sync now and print the outcome",
		Long: `Ask the controller to reconcile a Sync at once, by setting its
` + sealiftv1.ReconcileRequestAnnotation + ` annotation to the current time, wait until the
controller has handled that request (status.lastHandledReconcileAt carries the same value),
and print the outcome: the revision applied and the Ready condition's message.

The exit status is 0 when the Sync is Ready afterwards, 1 when it is not (Stalled, or
failing and being retried) or when --timeout passes first. A suspended Sync is refused:
'sealift resume sync' resumes and reconciles it.`,
		Example: `  sealift reconcile sync podinfo -n sealift-system
  sealift reconcile sync podinfo --timeout 2m`,
		Args: exactArgs(1, "NAME"),
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
			s, err := api.get(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if s.Spec.Suspend {
				return withHint(fmt.Errorf("Sync %s/%s is suspended: the controller does not reconcile it", ns, s.Name),
					"resume it with 'sealift resume sync %s -n %s', which also reconciles it", s.Name, ns)
			}
			return requestReconcile(cmd, api, ns, s.Name, nil, o.wait.Timeout)
		},
	}
	f := cmd.Flags()
	o.wait.addFlags(f)
	o.ns.addFlags(f, false)
	o.kube.addFlags(f)
	return cmd
}

// requestReconcile sets the reconcile-request annotation of Sync ns/name
// (merging spec into the same patch when it is not nil), waits until the
// controller has handled the request, and reports the outcome.
func requestReconcile(cmd *cobra.Command, api *syncAPI, ns, name string, spec map[string]any, timeout time.Duration) error {
	ctx := cmd.Context()
	token := time.Now().UTC().Format(time.RFC3339Nano)
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{sealiftv1.ReconcileRequestAnnotation: token}}}
	if spec != nil {
		patch["spec"] = spec
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := api.patch(ctx, ns, name, body); err != nil {
		return err
	}
	progress := cmd.ErrOrStderr()
	fmt.Fprintf(progress, "► reconcile of Sync %s/%s requested (%s)\n◎ waiting for the controller to handle it\n", ns, name, token)

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := api.waitFor(wctx, ns, name, func(s *sealiftv1.Sync) bool {
		return s.Status.LastHandledReconcileAt == token
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			handled := ""
			if s != nil {
				handled = s.Status.LastHandledReconcileAt
			}
			return withHint(fmt.Errorf("Sync %s/%s: the controller did not handle the reconcile request %q within %s (status.lastHandledReconcileAt is %q): %w",
				ns, name, token, timeout, handled, err),
				"check that the controller runs ('sealift version') and watches this namespace; 'sealift events sync %s -n %s' shows what it did", name, ns)
		}
		return err
	}
	return reportOutcome(cmd.OutOrStdout(), s)
}

// notReadyError says a Sync is not Ready after a reconcile.
type notReadyError struct {
	Key, State, Reason, Message, Revision string
}

func (e *notReadyError) Error() string {
	rev := e.Revision
	if rev == "" {
		rev = "none"
	}
	return fmt.Sprintf("Sync %s is %s (%s): %s; last applied revision: %s", e.Key, e.State, e.Reason, e.Message, rev)
}

// reportOutcome prints a Ready Sync's revision and message, and returns a
// *notReadyError for any other state.
func reportOutcome(w io.Writer, s *sealiftv1.Sync) error {
	key := s.Namespace + "/" + s.Name
	ready := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue {
		fmt.Fprintf(w, "✔ Sync %s is Ready: revision %s\n  %s\n", key, s.Status.LastAppliedRevision, ready.Message)
		return nil
	}
	e := &notReadyError{Key: key, State: "not Ready", Reason: "unknown", Message: "no Ready condition", Revision: s.Status.LastAppliedRevision}
	if ready != nil {
		e.Reason, e.Message = ready.Reason, ready.Message
	}
	if st := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled); st != nil && st.Status == metav1.ConditionTrue {
		e.State, e.Reason, e.Message = "Stalled", st.Reason, st.Message
	}
	hint := "the controller retries it with back-off; 'sealift events sync %s -n %s' shows what it did"
	if e.State == "Stalled" {
		hint = "it is not retried until the Sync or its source changes: fix the cause, then 'sealift reconcile sync %s -n %s'"
	}
	return withHint(e, hint, s.Name, s.Namespace)
}
