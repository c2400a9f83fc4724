package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/dynamic"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

// eventResource is events.k8s.io/v1, the API the controller records with.
var eventResource = eventsv1.SchemeGroupVersion.WithResource("events")

type eventsOptions struct {
	kube kubeOptions
	ns   namespaceOptions
}

func newEventsCmd() *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events [sync NAME]",
		Short: "Show the events the controller recorded for Syncs",
		Long: `Show the events (events.k8s.io) recorded for the Syncs of a namespace (-A: of every
namespace), or for one Sync, oldest first: applied revisions with their signer and object
counts, prunes, verification and apply failures, drift, unavailable sources. The controller
records an event when a Sync's state changes, not on every reconcile. The API server keeps
events for an hour by default.`,
		Example: `  sealift events -n sealift-system
  sealift events sync podinfo -n sealift-system
  sealift events -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, "")
		},
	}
	o.ns.addFlags(cmd.PersistentFlags(), true)
	o.kube.addFlags(cmd.PersistentFlags())

	syncCmd := &cobra.Command{
		Use:     "sync NAME",
		Short:   "Show the events recorded for one Sync",
		Example: `  sealift events sync podinfo -n sealift-system`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	cmd.AddCommand(syncCmd)
	return cmd
}

// syncEvent is one event as the table shows it.
type syncEvent struct {
	Namespace, Type, Reason, Object, Message string
	LastSeen                                 time.Time
}

func (o *eventsOptions) run(cmd *cobra.Command, name string) error {
	if err := o.ns.validate(); err != nil {
		return err
	}
	if name != "" && o.ns.AllNamespaces {
		return withHint(fmt.Errorf("--all-namespaces with a Sync name (%s)", name), "pass -n NAMESPACE with a name")
	}
	ns, api, err := o.ns.connect(&o.kube)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	events, err := listSyncEvents(ctx, api, ns, name)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		if name != "" {
			// No events: say whether the Sync is there at all.
			if _, err := api.get(ctx, ns, name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "no events for Sync %s/%s\n", ns, name)
			return nil
		}
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "no events for Syncs in %s\n", where)
		return nil
	}
	return writeEventTable(cmd.OutOrStdout(), events, ns == "", time.Now())
}

// listSyncEvents lists the events about Syncs in ns (every namespace when
// empty), about Sync name only when it is set, oldest first.
func listSyncEvents(ctx context.Context, api *syncAPI, ns, name string) ([]syncEvent, error) {
	selector := "regarding.kind=" + sealiftv1.Kind
	if name != "" {
		selector += ",regarding.name=" + name
	}
	var res dynamic.ResourceInterface = api.dyn.Resource(eventResource)
	if ns != "" {
		res = api.dyn.Resource(eventResource).Namespace(ns)
	}
	list, err := res.List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return nil, withHint(fmt.Errorf("list events: %w", err), "%s", clusterHint(err))
	}
	var out []syncEvent
	for i := range list.Items {
		var e eventsv1.Event
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &e); err != nil {
			return nil, fmt.Errorf("decode event %s/%s: %w", list.Items[i].GetNamespace(), list.Items[i].GetName(), err)
		}
		// Another group's kind named Sync is not ours.
		if gv, err := schema.ParseGroupVersion(e.Regarding.APIVersion); err != nil || gv.Group != sealiftv1.Group {
			continue
		}
		out = append(out, syncEvent{
			Namespace: e.Namespace, Type: e.Type, Reason: e.Reason,
			Object: e.Regarding.Kind + "/" + e.Regarding.Name, Message: e.Note, LastSeen: lastSeen(&e),
		})
	}
	slices.SortStableFunc(out, func(a, b syncEvent) int { return a.LastSeen.Compare(b.LastSeen) })
	return out, nil
}

// lastSeen is when an event last happened: its series' last observation,
// else its own time, else the time of the core/v1 fields.
func lastSeen(e *eventsv1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.DeprecatedLastTimestamp.IsZero():
		return e.DeprecatedLastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func writeEventTable(w io.Writer, events []syncEvent, withNamespace bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, e := range events {
		seen := "<unknown>"
		if !e.LastSeen.IsZero() {
			seen = duration.HumanDuration(now.Sub(e.LastSeen))
		}
		line := strings.Join([]string{seen, e.Type, e.Reason, e.Object, oneLine(e.Message)}, "\t")
		if withNamespace {
			line = e.Namespace + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
