package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/reconcile"
)

type syncOptions struct {
	once    bool
	file    string
	offline bool
	kube    kubeOptions
	cache   cacheOptions
	remote  remoteOptions
	output  outputOptions
}

func newSyncCmd() *cobra.Command {
	var o syncOptions
	cmd := &cobra.Command{
		Use:   "sync --once -f sync.yaml",
		Short: "Reconcile a Sync once: resolve, verify, cache and apply its artifact",
		Long: `Reconcile a Sync once against any cluster: resolve the source to a digest, check its
signatures against the Sync's policy, fetch exactly that digest into the cache and apply it
with server-side apply. Exit status 0 means everything was applied; nothing is applied when
the signatures do not satisfy the policy.

With --offline, the last revision the cache holds for the Sync is applied without any
registry. When no source can be reached, the last verified revision in the cache is re-applied
(so drift is still corrected) and the exit status is 3, with a message naming the source error
and the revision applied.

A Sync with spec.suspend: true is not applied: sync says so and exits 0. spec.interval,
spec.retryInterval and spec.dependsOn are read by the in-cluster controller only; sync --once
notes on stderr that it ignores them.`,
		Example: `  sealift sync --once -f examples/podinfo/sync.yaml
  sealift sync --once --offline -f sync.yaml --cache-dir /var/cache/sealift`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.once {
				return withHint(errors.New("sync needs --once"), "run `sealift sync --once -f FILE`; the continuous loop is the in-cluster controller")
			}
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
			if fields := reconcile.ControllerOnlyFields(s); len(fields) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: sync --once ignores %s (read by the in-cluster controller only)\n", strings.Join(fields, ", "))
			}
			c, err := o.cache.open(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()

			r := &reconcile.Engine{Cache: c, RestConfig: restCfg, Remote: o.remote.pullOptions(), Managers: &reconcile.ManagerCache{}}
			var res reconcile.Outcome
			if o.offline {
				res, err = r.ReconcileOffline(cmd.Context(), s)
			} else {
				res, err = r.Reconcile(cmd.Context(), s)
			}
			if o.output.json() {
				out := struct {
					reconcile.Outcome
					Status sealiftv1.SyncStatus `json:"status"`
				}{res, s.Status}
				if werr := writeJSON(cmd.OutOrStdout(), out); werr != nil && err == nil {
					err = werr
				}
			} else if err == nil || errors.As(err, new(*reconcile.SourceUnavailableError)) {
				printSyncResult(cmd, s, res)
			}
			if err != nil {
				return withHint(err, "%s", syncHint(err))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.once, "once", false, "reconcile once and exit")
	f.StringVarP(&o.file, "file", "f", "", "Sync file")
	f.BoolVar(&o.offline, "offline", false, "apply the last revision in the cache without contacting any registry")
	o.kube.addFlags(f)
	o.cache.addFlags(f)
	o.remote.addFlags(f)
	o.output.addFlags(f)
	return cmd
}

func printSyncResult(cmd *cobra.Command, s *sealiftv1.Sync, res reconcile.Outcome) {
	w := cmd.OutOrStdout()
	if res.Suspended {
		fmt.Fprintf(w, "sync %s: suspended (spec.suspend: true): nothing resolved, verified or applied\n", s.Key())
		return
	}
	src := res.ServedBy
	if res.Offline {
		src = "cache (offline)"
	}
	verb := "applied"
	if res.DriftChecked {
		verb = "checked"
	}
	fmt.Fprintf(w, "sync %s: %s %s@%s from %s\n", s.Key(), verb, res.Repository, res.Digest, src)
	if res.Verdict.Verified {
		fmt.Fprintf(w, "verified by: %v\n", res.Verdict.Signers)
	} else {
		fmt.Fprintf(w, "NOT verified (audit mode): %s\n", res.Verdict.Reason)
	}
	for _, c := range res.Changes {
		fmt.Fprintf(w, "  %-10s %s\n", c.Action, c.Object)
	}
	if res.DriftChecked {
		fmt.Fprintf(w, "drift (detect, not corrected): %d objects differ from the applied revision\n", len(res.Drifted))
		for _, o := range res.Drifted {
			fmt.Fprintf(w, "  drifted    %s\n", o)
		}
	}
}

func syncHint(err error) string {
	var unavailable *reconcile.SourceUnavailableError
	switch {
	case errors.As(err, &unavailable):
		return fmt.Sprintf("the cluster keeps the cached revision %s; check that the registry is reachable, then retry (exit status %d means exactly this)", unavailable.Digest, exitSourceUnavailable)
	case errors.Is(err, errdef.ErrNoSignature):
		return "sign the artifact (`sealift sign oci://REPO@DIGEST --key cosign.key`) or push it with --sign"
	case errors.Is(err, errdef.ErrSignatureInvalid):
		return "check that spec.verify.keys holds the public key matching the key the artifact was signed with"
	case errors.Is(err, errdef.ErrNotFound):
		return "check spec.source.url and the tag or digest; with --offline the Sync must have been applied once online"
	case errdef.IsTerminal(err):
		return "fix the artifact or the Sync; retrying will not help"
	}
	return "check that the registry and the API server are reachable, then retry"
}

// loadSync reads and validates the Sync file and the cluster's config,
// the first step of every command that acts for a Sync.
func loadSync(file string, kube *kubeOptions) (*sealiftv1.Sync, *rest.Config, error) {
	if file == "" {
		return nil, nil, withHint(errors.New("-f is required"), "pass the Sync file with -f sync.yaml")
	}
	s, err := sealiftv1.LoadFile(file)
	if err != nil {
		return nil, nil, withHint(err, "fix the Sync file; see examples/podinfo/sync.yaml")
	}
	restCfg, err := kube.restConfig()
	if err != nil {
		return nil, nil, err
	}
	return s, restCfg, nil
}
