package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/reconcile"
	"github.com/sealift-dev/sealift/render"
)

type diffOptions struct {
	file   string
	dir    string
	kube   kubeOptions
	cache  cacheOptions
	remote remoteOptions
	output outputOptions
}

func newDiffCmd() *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff -f sync.yaml [--dir DIR]",
		Short: "Show what a Sync would change in the cluster, without changing it",
		Long: `Show, per object, whether applying a Sync would create, update, delete or leave it
unchanged, with a unified diff of what the apply would change. The prediction comes from the
API server itself (server-side dry-run apply), so defaults, admission and field ownership are
those of the real apply; nothing is written. With prune, deletes are the objects of the Sync's
inventory that the manifests no longer hold: the inventory kept in the cluster, else the one
the cache recorded with the last sync, as sync itself would prune them.

Without --dir, the Sync's artifact is resolved, its signatures checked against the Sync's
policy and its content fetched into the cache, exactly as sync would, before the diff; an
artifact that fails verification is never diffed. --dir diffs rendered manifests from a local
directory instead (the Sync's path and targetNamespace still apply); no registry is reached.
Both read the cache (--cache-dir) for the inventory.

With spec.images.mirrors, the image references are rewritten first, as sync rewrites them (to
the mirror, by the digest of the artifact's images lock), and each rewrite is listed before the
objects. With --dir, digests come from DIR/.sealift/images.yaml when it exists, and images it
does not pin keep their tag instead of being refused.`,
		Example: `  sealift diff -f sync.yaml
  sealift diff -f sync.yaml --dir ./rendered
  sealift diff -f sync.yaml --dir ./rendered -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every flag is checked before the cluster, the cache or a
			// registry is reached.
			if err := o.output.validate(); err != nil {
				return err
			}
			if err := o.remote.validate(); err != nil {
				return err
			}
			s, restCfg, err := loadSync(o.file, &o.kube)
			if err != nil {
				return err
			}
			if o.dir == "" {
				return o.planArtifact(cmd, s, restCfg)
			}
			return o.planDir(cmd, s, restCfg)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "Sync file")
	f.StringVar(&o.dir, "dir", "", "directory of rendered manifests to diff instead of the Sync's artifact")
	o.kube.addFlags(f)
	o.cache.addFlags(f)
	o.remote.addFlags(f)
	o.output.addFlags(f)
	return cmd
}

// printDiffs writes one line per object (action and object, and the
// managers it takes fields from), the unified diff indented below it, and
// a count per action.
func printDiffs(cmd *cobra.Command, s *sealiftv1.Sync, diffs []deploy.ObjectDiff) {
	w := cmd.OutOrStdout()
	counts := map[deploy.DiffAction]int{}
	for _, d := range diffs {
		counts[d.Action]++
		line := fmt.Sprintf("%-9s %s", d.Action, d.Object)
		if len(d.TookFrom) > 0 {
			line += " (takes fields from " + strings.Join(d.TookFrom, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		for l := range strings.SplitSeq(strings.TrimRight(d.Diff, "\n"), "\n") {
			if l != "" {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
	fmt.Fprintf(w, "sync %s: %d to create, %d to update, %d to delete, %d unchanged\n", s.Key(),
		counts[deploy.DiffCreate], counts[deploy.DiffUpdate], counts[deploy.DiffDelete], counts[deploy.DiffUnchanged])
}

// planArtifact diffs the Sync's verified artifact.
func (o *diffOptions) planArtifact(cmd *cobra.Command, s *sealiftv1.Sync, restCfg *rest.Config) error {
	c, err := o.cache.open(cmd.Context())
	if err != nil {
		return err
	}
	defer c.Close()
	r := &reconcile.Engine{Cache: c, RestConfig: restCfg, Remote: o.remote.pullOptions(), Managers: &reconcile.ManagerCache{}}
	res, diffs, err := r.Plan(cmd.Context(), s)
	if err != nil {
		return withHint(err, "%s", syncHint(err))
	}
	return o.print(cmd, s, res.Digest, res.Images, diffs)
}

// planDir diffs the manifests under --dir, rendered with the Sync's path
// and targetNamespace, through the same plan as planArtifact
// (reconcile.Engine.PlanObjects): the same apply manager, and the same
// deletes, taken from the cluster's inventory or, when that is missing,
// the cache's.
func (o *diffOptions) planDir(cmd *cobra.Command, s *sealiftv1.Sync, restCfg *rest.Config) error {
	ctx := cmd.Context()
	opts, err := reconcile.RenderOptions(s)
	if err != nil {
		return withHint(err, "fix spec.images.mirrors in %s", o.file)
	}
	var images []render.Relocation
	if opts.Images != nil {
		// A directory has no images lock unless one was written into it:
		// preview the relocation rather than refuse what push would lock.
		opts.Images.RequireLocked = false
		opts.Images.OnRelocate = func(rel render.Relocation) { images = append(images, rel) }
	}
	objs, err := render.Render(ctx, filepath.Clean(o.dir), opts)
	if err != nil {
		return withHint(err, "fix the manifests under %s", o.dir)
	}
	c, err := o.cache.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	r := &reconcile.Engine{Cache: c, RestConfig: restCfg, Managers: &reconcile.ManagerCache{}}
	diffs, err := r.PlanObjects(ctx, s, objs)
	if err != nil {
		return withHint(err, "check that the API server is reachable and that the objects are valid")
	}
	return o.print(cmd, s, "", images, diffs)
}

func (o *diffOptions) print(cmd *cobra.Command, s *sealiftv1.Sync, digest string, images []render.Relocation, diffs []deploy.ObjectDiff) error {
	if o.output.json() {
		return writeJSON(cmd.OutOrStdout(), struct {
			Sync    string              `json:"sync"`
			Digest  string              `json:"digest,omitempty"`
			Images  []render.Relocation `json:"images,omitempty"`
			Objects []deploy.ObjectDiff `json:"objects"`
		}{s.Key(), digest, images, diffs})
	}
	w := cmd.OutOrStdout()
	if digest != "" {
		fmt.Fprintf(w, "sync %s: verified %s\n", s.Key(), digest)
	}
	for _, rel := range images {
		fmt.Fprintf(w, "%-9s %s %s: %s -> %s\n", "image", rel.Object, rel.Field, rel.From, rel.To)
	}
	printDiffs(cmd, s, diffs)
	return nil
}
