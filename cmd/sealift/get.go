package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show objects in the cluster and their status",
	}
	cmd.AddCommand(newGetSyncsCmd())
	return cmd
}

// Output formats of get.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

type getSyncsOptions struct {
	kube   kubeOptions
	ns     namespaceOptions
	output string
}

func newGetSyncsCmd() *cobra.Command {
	var o getSyncsOptions
	cmd := &cobra.Command{
		Use:     "syncs [NAME]",
		Aliases: []string{"sync", "sls"},
		Short:   "List Syncs with their revision, signer and readiness",
		Long: `List the Syncs of a namespace (-A: of every namespace), or the one named, with the
columns of 'kubectl get syncs': NAME, READY (the Ready condition), REVISION (the tag and
short digest last applied), SIGNER (the first key or identity whose signature held; +N when
more did), AGE and MESSAGE (the Ready condition's message).

-o json and -o yaml print the objects as the API server holds them (a SyncList when
listing), without managedFields.`,
		Example: `  sealift get syncs -n sealift-system
  sealift get syncs -A
  sealift get syncs podinfo -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", formatTable, "output format: table, json or yaml")
	o.ns.addFlags(f, true)
	o.kube.addFlags(f)
	return cmd
}

func (o *getSyncsOptions) run(cmd *cobra.Command, args []string) error {
	switch o.output {
	case formatTable, formatJSON, formatYAML:
	default:
		return withHint(fmt.Errorf("-o %q: unknown output format", o.output), "use -o table, -o json or -o yaml")
	}
	if err := o.ns.validate(); err != nil {
		return err
	}
	if len(args) == 1 && o.ns.AllNamespaces {
		return withHint(fmt.Errorf("--all-namespaces with a NAME (%s)", args[0]), "pass -n NAMESPACE with a name, or no name with -A")
	}
	ns, api, err := o.ns.connect(&o.kube)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var items []unstructured.Unstructured
	if len(args) == 1 {
		u, err := api.syncs(ns).Get(ctx, args[0], metav1.GetOptions{})
		if err != nil {
			return api.explain(ctx, ns, args[0], err)
		}
		items = []unstructured.Unstructured{*u}
	} else if items, err = api.list(ctx, ns); err != nil {
		return err
	}
	for i := range items {
		unstructured.RemoveNestedField(items[i].Object, "metadata", "managedFields")
	}

	w := cmd.OutOrStdout()
	switch o.output {
	case formatJSON, formatYAML:
		var v any = items[0].Object
		if len(args) == 0 {
			list := make([]any, len(items))
			for i := range items {
				list[i] = items[i].Object
			}
			v = map[string]any{"apiVersion": sealiftv1.APIVersion, "kind": sealiftv1.Kind + "List", "items": list}
		}
		if o.output == formatJSON {
			return writeJSON(w, v)
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	if len(items) == 0 {
		where := fmt.Sprintf("namespace %s", ns)
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "no Syncs found in %s\n", where)
		return nil
	}
	syncs := make([]*sealiftv1.Sync, len(items))
	for i := range items {
		if syncs[i], err = toSync(&items[i]); err != nil {
			return err
		}
	}
	return writeSyncTable(w, syncs, ns == "", time.Now())
}

// syncRow is one Sync as get's table shows it.
type syncRow struct {
	Namespace, Name, Ready, Revision, Signer, Age, Message string
}

func rowOf(s *sealiftv1.Sync, now time.Time) syncRow {
	r := syncRow{Namespace: s.Namespace, Name: s.Name, Ready: string(metav1.ConditionUnknown)}
	if c := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReady); c != nil {
		r.Ready, r.Message = string(c.Status), c.Message
	}
	if c := apimeta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionReconciling); r.Message == "" && c != nil && c.Status == metav1.ConditionTrue {
		// Not reconciled yet: say what is going on instead.
		r.Message = c.Message
	}
	if s.Spec.Suspend {
		r.Message = strings.TrimSuffix("suspended (spec.suspend: true); "+r.Message, "; ")
	}
	r.Revision = shortRevision(s.Status.LastAppliedRevision)
	if n := len(s.Status.VerifiedBy); n > 0 {
		r.Signer = s.Status.VerifiedBy[0]
		if n > 1 {
			r.Signer += fmt.Sprintf(" +%d", n-1)
		}
	}
	if !s.CreationTimestamp.IsZero() {
		r.Age = duration.HumanDuration(now.Sub(s.CreationTimestamp.Time))
	}
	return r
}

// shortDigestHex is how many hex digits of a digest the table shows, as
// many as a short git commit hash: enough to tell revisions apart at a glance.
const shortDigestHex = 12

// shortRevision shortens the digest of a revision (tag@sha256:..., or a
// digest alone) to shortDigestHex hex digits.
func shortRevision(rev string) string {
	tag, digest, ok := strings.Cut(rev, "@")
	if !ok {
		tag, digest = "", rev
	}
	algo, hex, ok := strings.Cut(digest, ":")
	if ok && len(hex) > shortDigestHex {
		digest = algo + ":" + hex[:shortDigestHex]
	}
	if tag == "" {
		return digest
	}
	return tag + "@" + digest
}

func writeSyncTable(w io.Writer, syncs []*sealiftv1.Sync, withNamespace bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tREADY\tREVISION\tSIGNER\tAGE\tMESSAGE"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, s := range syncs {
		r := rowOf(s, now)
		line := strings.Join([]string{r.Name, r.Ready, r.Revision, r.Signer, r.Age, oneLine(r.Message)}, "\t")
		if withNamespace {
			line = r.Namespace + "\t" + line
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// oneLine keeps a message on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
