package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sealift-dev/sealift/deploy"
)

func newTreeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tree",
		Short: "Show what an object applied, as a tree",
	}
	cmd.AddCommand(newTreeSyncCmd())
	return cmd
}

type treeSyncOptions struct {
	kube   kubeOptions
	ns     namespaceOptions
	output outputOptions
}

// Where tree found the inventory.
const (
	inventoryFromCluster = "cluster"
	inventoryFromStatus  = "status"
)

// clusterScoped heads the objects that have no namespace.
const clusterScoped = "(cluster-scoped)"

func newTreeSyncCmd() *cobra.Command {
	var o treeSyncOptions
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Show the objects a Sync applied, grouped by namespace and kind",
		Long: `Show the inventory of a Sync, every object it applied and owns, grouped by namespace
and kind. The inventory is read from where the engine keeps it, the ConfigMap
sealift-inventory-NAME in the Sync's namespace (every entry, the one prune works from);
when that cannot be read, from the Sync's status.inventory, and the output says so.`,
		Example: `  sealift tree sync podinfo -n sealift-system
  sealift tree sync podinfo -o json`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	o.output.addFlags(cmd.Flags())
	o.ns.addFlags(cmd.Flags(), false)
	o.kube.addFlags(cmd.Flags())
	return cmd
}

// treeResult is tree's -o json output.
type treeResult struct {
	Sync     string             `json:"sync"`
	Revision string             `json:"revision,omitempty"`
	Source   string             `json:"source"`
	Objects  []deploy.ObjectRef `json:"objects"`
	// StatusCount is status.inventory.count, for comparison.
	StatusCount int `json:"statusCount"`
}

func (o *treeSyncOptions) run(cmd *cobra.Command, name string) error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := o.ns.validate(); err != nil {
		return err
	}
	ns, api, err := o.ns.connect(&o.kube)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	s, err := api.get(ctx, ns, name)
	if err != nil {
		return err
	}
	res := treeResult{Sync: ns + "/" + name, Revision: s.Status.LastAppliedRevision, Source: inventoryFromCluster, Objects: []deploy.ObjectRef{}}
	var statusEntries []string
	if s.Status.Inventory != nil {
		res.StatusCount = s.Status.Inventory.Count
		statusEntries = s.Status.Inventory.Entries
	}

	mgr, err := deploy.NewManager(api.cfg, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: deploy.Owner{Name: name, Namespace: ns}}})
	if err != nil {
		return err
	}
	inv, found, err := mgr.ReadInventory(ctx)
	switch {
	case apierrors.IsForbidden(err):
		fmt.Fprintf(cmd.ErrOrStderr(), "note: cannot read ConfigMap %s/%s (%v); showing status.inventory\n", ns, deploy.InventoryName(name), err)
		found = false
	case err != nil:
		return withHint(fmt.Errorf("Sync %s: %w", res.Sync, err), "%s", clusterHint(err))
	}
	if !found {
		res.Source = inventoryFromStatus
		if inv, err = deploy.ParseInventory(statusEntries); err != nil {
			return fmt.Errorf("Sync %s: status.inventory: %w", res.Sync, err)
		}
	}
	if inv != nil {
		res.Objects = inv
	}
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), res)
	}
	writeTree(cmd.OutOrStdout(), res, ns, name)
	return nil
}

// writeTree prints the Sync, then its objects by namespace (cluster-scoped
// first), kind and name.
func writeTree(w io.Writer, res treeResult, ns, name string) {
	head := "Sync/" + res.Sync
	if res.Revision != "" {
		head += "  revision " + res.Revision
	}
	from := fmt.Sprintf("ConfigMap %s/%s", ns, deploy.InventoryName(name))
	if res.Source == inventoryFromStatus {
		from = "status.inventory"
	}
	fmt.Fprintf(w, "%s  (%d objects, from %s)\n", head, len(res.Objects), from)
	if res.Source == inventoryFromCluster && res.StatusCount != len(res.Objects) {
		fmt.Fprintf(w, "note: status.inventory counts %d objects\n", res.StatusCount)
	}
	if len(res.Objects) == 0 {
		fmt.Fprintln(w, "└── (nothing applied)")
		return
	}

	groups := map[string]map[string][]string{} // namespace → kind → names
	for _, r := range res.Objects {
		objNS := r.Namespace
		if objNS == "" {
			objNS = clusterScoped
		}
		kind := r.Kind
		if r.Group != "" {
			kind += "." + r.Group
		}
		if groups[objNS] == nil {
			groups[objNS] = map[string][]string{}
		}
		groups[objNS][kind] = append(groups[objNS][kind], r.Name)
	}
	namespaces := sortedKeys(groups)
	if i := slices.Index(namespaces, clusterScoped); i > 0 {
		namespaces = append([]string{clusterScoped}, slices.Delete(namespaces, i, i+1)...)
	}
	for i, objNS := range namespaces {
		nsBranch, nsIndent := branch(i == len(namespaces)-1)
		fmt.Fprintf(w, "%s%s\n", nsBranch, objNS)
		kinds := sortedKeys(groups[objNS])
		for j, kind := range kinds {
			kBranch, kIndent := branch(j == len(kinds)-1)
			fmt.Fprintf(w, "%s%s%s\n", nsIndent, kBranch, kind)
			names := slices.Sorted(slices.Values(groups[objNS][kind]))
			for k, n := range names {
				b, _ := branch(k == len(names)-1)
				fmt.Fprintf(w, "%s%s%s%s\n", nsIndent, kIndent, b, n)
			}
		}
	}
}

// branch returns the connector of a tree entry and the indentation of its
// children.
func branch(last bool) (string, string) {
	if last {
		return "└── ", "    "
	}
	return "├── ", "│   "
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
