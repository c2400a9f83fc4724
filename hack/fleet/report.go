package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Goals of issue 13 for 1 000 Syncs on this 2-core machine.
const (
	goalN        = 1000
	goalReady    = 60 * time.Second
	goalRSS      = 150 << 20
	goalSpeedup  = 4.0
	goalHEADs    = 1.0
	goalAPIWrite = 0.0
)

func perN(v int64, n int) float64 { return float64(v) / float64(n) }

// top lists the largest entries of m, per n, as "key v, key v".
func top(m map[string]int64, n, k int) string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for i, key := range keys {
		if i == k {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", key, perN(m[key], n)))
	}
	return strings.Join(parts, ", ")
}

func printEngine(w io.Writer, r *result) {
	n := r.N
	fmt.Fprintf(w, "\n== sealift engine N=%d (namespace %s; sealift-controller with its defaults)\n", n, r.Namespace)
	fmt.Fprintf(w, "rollout: %d Syncs x %d objects created in %s; all Ready after %s (%.1f Syncs/s)\n",
		n, objectsPerArtifact, round(r.Create), round(r.Ready), float64(n)/r.Ready.Seconds())
	fmt.Fprintf(w, "controller: %.1f CPU-s (%.3f per Sync), peak RSS %s; kube-apiserver and etcd: %.1f CPU-s\n", r.Stats.CPU.Seconds(), r.Stats.CPU.Seconds()/float64(n), mib(r.Stats.PeakRSS), r.ServerCPU.Seconds())
	fmt.Fprintf(w, "API requests: %d = %.2f per Sync (reads %.2f, writes %.2f, dry-run %.2f)\n",
		r.API.Total, perN(r.API.Total, n), perN(r.API.Reads, n), perN(r.API.Writes, n), perN(r.API.DryRun, n))
	fmt.Fprintf(w, "  per Sync by verb: %s\n", top(r.API.ByVerb, n, 12))
	fmt.Fprintf(w, "registry requests: %d = %.2f per Sync (%s)\n", r.Registry.Total, perN(r.Registry.Total, n), top(r.Registry.ByMethod, n, 5))
	fmt.Fprintf(w, "  per Sync by kind: %s\n", top(r.Registry.ByKind, n, 10))
	if s := r.Steady; s != nil {
		d := float64(n * s.Intervals)
		fmt.Fprintf(w, "steady state: interval %s, %d intervals, %d unchanged Syncs; per Sync per interval:\n", s.Interval, s.Intervals, n)
		fmt.Fprintf(w, "  registry %.2f (HEAD %.2f, GET %.2f); API requests %.2f, writes %.2f, dry-run %.2f; controller CPU %.1f%% of a core, RSS %s at the end (peak %s)\n",
			float64(s.Registry.Total)/d, float64(s.Registry.ByMethod["HEAD"])/d, float64(s.Registry.ByMethod["GET"])/d,
			float64(s.API.Total)/d, float64(s.API.Writes)/d, float64(s.API.DryRun)/d,
			100*s.CPU.Seconds()/(s.Interval.Seconds()*float64(s.Intervals)), mib(r.StatsEnd.RSS), mib(r.StatsEnd.PeakRSS))
		if len(s.API.ByVerb) > 0 {
			fmt.Fprintf(w, "  API per Sync per interval by verb: %s\n", top(s.API.ByVerb, n*s.Intervals, 8))
		}
		if len(s.Registry.ByKind) > 0 {
			fmt.Fprintf(w, "  registry per Sync per interval by kind: %s\n", top(s.Registry.ByKind, n*s.Intervals, 6))
		}
	}
}

func printEngineSummary(w io.Writer, all []*result) {
	fmt.Fprintf(w, "\n== sealift engine summary\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tall Ready\tSyncs/s\tCPU s\tpeak RSS\tAPI/Sync\twrites/Sync\tregistry/Sync\tsteady registry/Sync/iv\tsteady HEAD\tsteady API writes/Sync/iv\t")
	for _, r := range all {
		sreg, shead, swrite := "-", "-", "-"
		if s := r.Steady; s != nil {
			d := float64(r.N * s.Intervals)
			sreg = fmt.Sprintf("%.2f", float64(s.Registry.Total)/d)
			shead = fmt.Sprintf("%.2f", float64(s.Registry.ByMethod["HEAD"])/d)
			swrite = fmt.Sprintf("%.2f", float64(s.API.Writes)/d)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%.1f\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t\n", r.N, round(r.Ready), float64(r.N)/r.Ready.Seconds(),
			r.Stats.CPU.Seconds(), mib(r.Stats.PeakRSS), perN(r.API.Total, r.N), perN(r.API.Writes, r.N), perN(r.Registry.Total, r.N), sreg, shead, swrite)
	}
	tw.Flush()
	for _, r := range all {
		if r.N != goalN {
			continue
		}
		fmt.Fprintf(w, "goal N=%d: all Ready <= %s: %s (%s); peak RSS <= %s: %s (%s)", goalN, goalReady, pass(r.Ready <= goalReady), round(r.Ready),
			mib(goalRSS), pass(r.Stats.PeakRSS <= goalRSS), mib(r.Stats.PeakRSS))
		if s := r.Steady; s != nil {
			d := float64(r.N * s.Intervals)
			head := float64(s.Registry.ByMethod["HEAD"]) / d
			others := float64(s.Registry.Total-s.Registry.ByMethod["HEAD"]) / d
			writes := float64(s.API.Writes) / d
			fmt.Fprintf(w, "; steady state 1 HEAD and 0 API writes per Sync per interval: %s (HEAD %.2f, other registry %.2f, writes %.2f)",
				pass(head <= goalHEADs+0.05 && others < 0.01 && writes <= goalAPIWrite+0.01), head, others, writes)
		}
		fmt.Fprintln(w)
	}
}

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// median of the results' values (the mean of the middle two for an even count).
func median(rs []*result, f func(*result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	m := len(v) / 2
	if len(v)%2 == 0 {
		return (v[m-1] + v[m]) / 2
	}
	return v[m]
}

type fleetRow struct {
	ready, sources, cpu, rss, api, writes, reg                float64
	steadyReg, steadyHEAD, steadyAPI, steadyWrites, steadyCPU float64
	hasSteady                                                 bool
}

func summarize(rs []*result) fleetRow {
	n := float64(rs[0].N)
	row := fleetRow{
		ready:   median(rs, func(r *result) float64 { return r.Ready.Seconds() }),
		sources: median(rs, func(r *result) float64 { return r.Sources.Seconds() }),
		cpu:     median(rs, func(r *result) float64 { return r.Stats.CPU.Seconds() }),
		rss:     median(rs, func(r *result) float64 { return float64(r.Stats.PeakRSS) }),
		api:     median(rs, func(r *result) float64 { return float64(r.API.Total) / n }),
		writes:  median(rs, func(r *result) float64 { return float64(r.API.Writes) / n }),
		reg:     median(rs, func(r *result) float64 { return float64(r.Registry.Total) / n }),
	}
	if rs[0].Steady != nil {
		row.hasSteady = true
		per := func(f func(s *steady) int64) float64 {
			return median(rs, func(r *result) float64 { return float64(f(r.Steady)) / (n * float64(r.Steady.Intervals)) })
		}
		row.steadyReg = per(func(s *steady) int64 { return s.Registry.Total })
		row.steadyHEAD = per(func(s *steady) int64 { return s.Registry.ByMethod["HEAD"] })
		row.steadyAPI = per(func(s *steady) int64 { return s.API.Total })
		row.steadyWrites = per(func(s *steady) int64 { return s.API.Writes })
		row.steadyCPU = median(rs, func(r *result) float64 {
			return 100 * r.Steady.CPU.Seconds() / (r.Steady.Interval.Seconds() * float64(r.Steady.Intervals))
		})
	}
	return row
}

// printFleet prints the table of one size and returns its last line.
func printFleet(w io.Writer, n int, order []string, byTool map[string][]*result, sealiftName, fluxName string) string {
	rounds := len(byTool[sealiftName])
	fmt.Fprintf(w, "\n== fleet N=%d: %d apps x %d objects, %d rounds (which tool goes first alternates); medians of the rounds\n", n, n, objectsPerArtifact, rounds)
	fmt.Fprintf(w, "per app: one Sync for sealift, one OCIRepository + one Kustomization for Flux; CPU and peak RSS of both Flux controllers summed\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tall Ready\tsources Ready\tCPU s\tpeak RSS\tAPI req/app\tAPI writes/app\tregistry req/app\t")
	rows := map[string]fleetRow{}
	for _, name := range order {
		for i, r := range byTool[name] {
			fmt.Fprintf(tw, "  %s round %d\t%s\t%s\t%.1f\t%s\t%.1f\t%.1f\t%.1f\t\n", name, i+1, round(r.Ready), srcCol(r.Sources),
				r.Stats.CPU.Seconds(), mib(r.Stats.PeakRSS), perN(r.API.Total, n), perN(r.API.Writes, n), perN(r.Registry.Total, n))
		}
	}
	for _, name := range order {
		row := summarize(byTool[name])
		rows[name] = row
		fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%.1f\t%s\t%.1f\t%.1f\t%.1f\t\n", name, row.ready, srcCol(time.Duration(row.sources*float64(time.Second))),
			row.cpu, mib(int64(row.rss)), row.api, row.writes, row.reg)
	}
	s := rows[sealiftName]
	for _, name := range order {
		if name == sealiftName {
			continue
		}
		f := rows[name]
		fmt.Fprintf(tw, "sealift/%s\t%.2fx\t\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\n", name, s.ready/f.ready, s.cpu/f.cpu, s.rss/f.rss, ratio(s.api, f.api), ratio(s.writes, f.writes), ratio(s.reg, f.reg))
	}
	tw.Flush()
	if s.hasSteady {
		iv := byTool[sealiftName][0].Steady
		fmt.Fprintf(w, "steady state: interval %s, counted over %d intervals after one interval of warm-up; per unchanged app per interval:\n", iv.Interval, iv.Intervals)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "tool\tregistry req\tof which HEAD\tAPI req\tAPI writes\tCPU % of a core\t")
		for _, name := range order {
			r := rows[name]
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", name, r.steadyReg, r.steadyHEAD, r.steadyAPI, r.steadyWrites, r.steadyCPU)
		}
		tw.Flush()
	}
	f := rows[fluxName]
	if n == goalN {
		fmt.Fprintf(w, "goal N=%d: sealift all Ready <= %s: %s; peak RSS <= %s: %s; >= %.0fx faster than %s: %s (%.1fx); less memory: %s\n",
			goalN, goalReady, pass(s.ready <= goalReady.Seconds()), mib(goalRSS), pass(s.rss <= goalRSS),
			goalSpeedup, fluxName, pass(f.ready/s.ready >= goalSpeedup), f.ready/s.ready, pass(s.rss < f.rss))
	}
	line := fmt.Sprintf("fleet N=%d: sealift %.1fs %s, flux %.1fs %s, flux/sealift time %.1fx memory %.1fx",
		n, s.ready, mib(int64(s.rss)), f.ready, mib(int64(f.rss)), f.ready/s.ready, f.rss/s.rss)
	fmt.Fprintln(w, line)
	return line
}

func srcCol(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return round(d).String()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
