package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

// cacheOptions is the flag group that locates the cache directory.
type cacheOptions struct {
	Dir string
}

func (o *cacheOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Dir, "cache-dir", defaultCacheDir(), "cache directory (one process at a time)")
}

// defaultCacheDir is $XDG_CACHE_HOME/sealift, else ~/.cache/sealift, else
// .sealift-cache in the working directory when there is no home.
func defaultCacheDir() string {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "sealift")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "sealift")
	}
	return ".sealift-cache"
}

// open opens the cache with its default options.
func (o *cacheOptions) open(ctx context.Context) (*cache.Cache, error) {
	return o.openWith(ctx, cache.Options{})
}

func (o *cacheOptions) openWith(ctx context.Context, opts cache.Options) (*cache.Cache, error) {
	if o.Dir == "" {
		return nil, withHint(errors.New("no cache directory"), "pass --cache-dir DIR")
	}
	c, err := cache.Open(ctx, o.Dir, opts)
	if errors.Is(err, errdef.ErrCacheLocked) {
		return nil, withHint(err, "another sealift process (a controller or a sync) is using %s; wait for it or pass another --cache-dir", o.Dir)
	}
	if err != nil {
		return nil, withHint(err, "check that %s is a writable directory, or pass another --cache-dir", o.Dir)
	}
	return c, nil
}

func newCacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect, check and clean the local artifact cache",
		Long: `The cache holds the artifacts sealift pulled (blobs named by digest, in an OCI image layout)
and an index of verdicts and of what each Sync applied. Only one process may use a cache
directory at a time.`,
	}
	cmd.AddCommand(newCacheLsCmd(), newCacheVerifyCmd(), newCacheGCCmd(), newCachePinCmd(true), newCachePinCmd(false))
	return cmd
}

type cacheCmdOptions struct {
	cache  cacheOptions
	output outputOptions
}

func (o *cacheCmdOptions) addFlags(fs *pflag.FlagSet) {
	o.cache.addFlags(fs)
	o.output.addFlags(fs)
}

func newCacheLsCmd() *cobra.Command {
	var o cacheCmdOptions
	cmd := &cobra.Command{
		Use:   "ls [--cache-dir DIR] [-o json]",
		Short: "List the cached artifacts, their verdicts and the Syncs that use them",
		Example: `  sealift cache ls
  sealift cache ls --cache-dir /var/cache/sealift -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withCache(cmd, func(c *cache.Cache) error {
				arts, err := c.List(cmd.Context())
				if err != nil {
					return withHint(err, "run `sealift cache verify` to check the cache")
				}
				if o.output.json() {
					if arts == nil {
						arts = []cache.Artifact{}
					}
					return writeJSON(cmd.OutOrStdout(), arts)
				}
				if len(arts) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "no artifacts cached in %s\n", c.Dir())
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DIGEST\tREPOSITORY\tSIZE\tVERIFIED\tPINNED\tUSED BY")
				for _, a := range arts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Manifest.Digest, orDash(a.Repository),
						formatCacheBytes(a.Size), verifiedColumn(a), yesOrDash(a.Pinned), usedByColumn(a))
				}
				return tw.Flush()
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newCacheVerifyCmd() *cobra.Command {
	var o cacheCmdOptions
	cmd := &cobra.Command{
		Use:     "verify [--cache-dir DIR] [-o json]",
		Short:   "Re-hash every cached blob and evict corrupt ones (non-zero exit if any)",
		Example: `  sealift cache verify --cache-dir /var/cache/sealift`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withCache(cmd, func(c *cache.Cache) error {
				report, err := c.Check(cmd.Context())
				if err != nil {
					return err
				}
				if o.output.json() {
					if err := writeJSON(cmd.OutOrStdout(), report); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "checked %d blobs in %s\n", report.Checked, c.Dir())
					for _, d := range report.Corrupt {
						fmt.Fprintf(cmd.OutOrStdout(), "evicted corrupt blob %s\n", d)
					}
				}
				if len(report.Corrupt) > 0 {
					return withHint(fmt.Errorf("%d corrupt blob(s) evicted from %s: %w", len(report.Corrupt), c.Dir(), errdef.ErrCorrupt),
						"run the affected Syncs again: they fetch the evicted blobs from the registry")
				}
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newCacheGCCmd() *cobra.Command {
	var o cacheCmdOptions
	cmd := &cobra.Command{
		Use:   "gc [--cache-dir DIR] [-o json]",
		Short: "Remove blobs that no Sync's applied or kept revisions, nor a pin, need",
		Long: `Remove every blob that is not reachable from a Sync's last-applied revision, the
previous revisions it keeps for rollback, or a pin, along with tags and verdicts of
removed content.`,
		Example: `  sealift cache gc --cache-dir /var/cache/sealift`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.output.validate(); err != nil {
				return err
			}
			// The CLI owns the directory while it runs, so no pull can be
			// half-way: nothing needs the grace period.
			c, err := o.cache.openWith(cmd.Context(), cache.Options{GCGracePeriod: -1})
			if err != nil {
				return err
			}
			defer c.Close()
			report, err := c.GC(cmd.Context())
			if err != nil {
				return withHint(err, "run `sealift cache verify`, then gc again")
			}
			if o.output.json() {
				return writeJSON(cmd.OutOrStdout(), report)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d blobs, freed %s\n", report.RemovedBlobs, formatCacheBytes(report.FreedBytes))
			return nil
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newCachePinCmd(pin bool) *cobra.Command {
	var o cacheCmdOptions
	verb, short := "pin", "Keep an artifact through gc, whether or not a Sync still holds it"
	if !pin {
		verb, short = "unpin", "Release a pin: the next gc removes the artifact unless a Sync holds it"
	}
	cmd := &cobra.Command{
		Use:   verb + " REFERENCE|DIGEST [--cache-dir DIR]",
		Short: short,
		Example: fmt.Sprintf(`  sealift cache %[1]s sha256:4f1c...
  sealift cache %[1]s registry.example/apps/podinfo:1.0.0`, verb),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withCache(cmd, func(c *cache.Cache) error {
				desc, err := c.Resolve(cmd.Context(), args[0])
				if errors.Is(err, errdef.ErrNotFound) {
					return withHint(err, "run `sealift cache ls` to see the cached artifacts and their digests")
				}
				if err != nil {
					return err
				}
				if pin {
					err = c.Pin(cmd.Context(), desc.Digest)
				} else {
					err = c.Unpin(cmd.Context(), desc.Digest)
				}
				if errors.Is(err, errdef.ErrNotFound) && !pin {
					return withHint(err, "run `sealift cache ls` to see what is pinned")
				}
				if err != nil {
					return err
				}
				if o.output.json() {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"digest": desc.Digest, "pinned": pin})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%sned %s\n", verb, desc.Digest)
				return nil
			})
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// usedByColumn names the Syncs holding the artifact: "ns/a (applied)" for
// the ones that applied it last, "ns/b (history)" for those keeping it for
// rollback.
func usedByColumn(a cache.Artifact) string {
	var parts []string
	for _, s := range a.UsedBy {
		if slices.Contains(a.AppliedBy, s) {
			parts = append(parts, s+" (applied)")
		} else {
			parts = append(parts, s+" (history)")
		}
	}
	return orDash(strings.Join(parts, ", "))
}

func yesOrDash(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

// verifiedColumn is "yes" when a committed or recorded verdict verified the
// artifact, "no" when verdicts exist and none did, "-" when there are none.
func verifiedColumn(a cache.Artifact) string {
	if a.Verified {
		return "yes"
	}
	for _, v := range a.Verdicts {
		if v.Verified {
			return "yes"
		}
	}
	if len(a.Verdicts) > 0 {
		return "no"
	}
	return "-"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatCacheBytes prints n in binary units: 512 B, 1.5 KiB, 3.0 MiB.
func formatCacheBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// withCache validates the output flag, opens the cache and runs fn with it,
// closing the cache (and so releasing its lock) afterwards.
func (o *cacheCmdOptions) withCache(cmd *cobra.Command, fn func(c *cache.Cache) error) error {
	if err := o.output.validate(); err != nil {
		return err
	}
	c, err := o.cache.open(cmd.Context())
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}
