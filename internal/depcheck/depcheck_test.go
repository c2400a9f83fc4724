package depcheck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/internal/depcheck"
)

const module = "github.com/sealift-dev/sealift"

// stages are the pipeline's packages; shared pieces under internal/ and the
// API types must not depend on any of them.
var stages = []string{
	module + "/push", module + "/pull", module + "/verify", module + "/cache", module + "/render",
	module + "/deploy", module + "/reconcile", module + "/mirror", module + "/imagelock",
}

// testHelpers are packages only tests may link.
var testHelpers = []string{module + "/internal/registrytest", module + "/internal/kubetest", module + "/internal/contenttest", module + "/internal/signtest", module + "/internal/imagetest"}

const (
	clientGo          = "k8s.io/client-go"
	controllerRuntime = "sigs.k8s.io/controller-runtime"
	registryServer    = "github.com/distribution/distribution/v3"
	sigstore          = "github.com/sigstore"
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// rules: packages under each prefix must not link anything under the listed
// prefixes, directly or through another package.
var rules = []struct {
	pkgs   string
	except []string
	why    string
	forbid []string
}{
	{pkgs: module + "/push", why: "CI packs and pushes without cluster clients or the engine",
		forbid: []string{clientGo, controllerRuntime, module + "/deploy", module + "/reconcile", module + "/cache"}},
	{pkgs: module + "/render", why: "rendering needs no cluster and no trust decisions",
		forbid: []string{clientGo, controllerRuntime, module + "/deploy", module + "/reconcile", module + "/verify", module + "/push"}},
	{pkgs: module + "/pull", why: "pull fetches; it decides no trust and touches no cluster",
		forbid: []string{clientGo, module + "/verify", module + "/cache", module + "/deploy", module + "/reconcile", module + "/render"}},
	{pkgs: module + "/imagelock", why: "the images lock is a format and a lookup: no trust, no cluster, no packing",
		forbid: []string{clientGo, module + "/verify", module + "/cache", module + "/deploy", module + "/reconcile", module + "/render", module + "/push", module + "/mirror"}},
	{pkgs: module + "/verify", why: "verify decides trust; it fetches no content for apply and touches no cluster",
		forbid: []string{clientGo, module + "/cache", module + "/deploy", module + "/reconcile", module + "/render", module + "/push"}},
	{pkgs: module + "/cache", why: "the cache stores; it reaches no registry and no cluster",
		forbid: []string{clientGo, module + "/pull", module + "/verify", module + "/deploy", module + "/reconcile", module + "/render"}},
	{pkgs: module + "/deploy", why: "deploy applies objects without knowing where they came from",
		forbid: []string{module + "/push", module + "/pull", module + "/verify", module + "/cache", module + "/render", module + "/reconcile"}},
	{pkgs: module + "/reconcile", why: "the orchestrator serves --once and the controller alike, without controller-runtime",
		forbid: []string{controllerRuntime + "/pkg/manager", controllerRuntime + "/pkg/controller", controllerRuntime + "/pkg/reconcile"}},
	{pkgs: module + "/api", why: "the API types import no pipeline package and no sigstore",
		forbid: append([]string{sigstore}, stages...)},
	{pkgs: module + "/errdef", why: "the sentinels are a leaf every package may import",
		forbid: append([]string{module + "/internal", module + "/api"}, stages...)},
	{pkgs: module + "/internal", except: join(testHelpers, []string{module + "/internal/depcheck", module + "/internal/controller"}),
		why: "shared small pieces sit below every stage", forbid: stages},
	{pkgs: module + "/", except: testHelpers, why: "only tests link the test fixtures", forbid: testHelpers},
	{pkgs: module + "/cmd/sealift", why: "the CLI starts lean; the registry server and the controller are binaries of their own",
		forbid: []string{registryServer, controllerRuntime + "/pkg/manager", "github.com/prometheus/client_golang", module + "/internal/controller",
			// the typed clientset and client-go's discovery bring every
			// k8s.io/api group (~200 packages); the dynamic client serves.
			"k8s.io/client-go/kubernetes", "k8s.io/client-go/discovery"}},
}

func TestImportRules(t *testing.T) {
	pkgs, err := depcheck.List(context.Background(), "../..", "./...")
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for path := range pkgs {
		if strings.HasPrefix(path, module+"/") {
			ours++
		}
	}
	if ours < 10 {
		t.Fatalf("go list found %d of the module's packages; the rules would check nothing", ours)
	}
	for _, r := range rules {
		checked := 0
		for path, p := range pkgs {
			if !under(path, r.pkgs) || under(path, r.except...) || strings.HasPrefix(path, "github.com/sealift-dev/sealift/hack") {
				continue
			}
			checked++
			for _, f := range r.forbid {
				// One report per forbidden prefix: the shortest chain to it.
				var best []string
				for _, dep := range p.Deps {
					if !under(dep, f) {
						continue
					}
					if c := depcheck.Chain(pkgs, path, dep); best == nil || len(c) < len(best) {
						best = c
					}
				}
				if best != nil {
					t.Errorf("%s links %s (%s): %s", path, f, r.why, strings.Join(best, " -> "))
				}
			}
		}
		if checked == 0 && r.pkgs != module+"/render" && r.pkgs != module+"/api" {
			t.Errorf("rule for %s matched no package", r.pkgs)
		}
	}
}

// under reports whether path is one of prefixes or inside one of them.
func under(path string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func TestChain(t *testing.T) {
	pkgs := map[string]*depcheck.Package{
		"a": {ImportPath: "a", Imports: []string{"b", "c"}},
		"b": {ImportPath: "b", Imports: []string{"d"}},
		"c": {ImportPath: "c", Imports: []string{"d"}},
		"d": {ImportPath: "d"},
	}
	if got := strings.Join(depcheck.Chain(pkgs, "a", "d"), ">"); got != "a>b>d" {
		t.Errorf("chain a..d = %q, want a>b>d", got)
	}
	if got := depcheck.Chain(pkgs, "d", "a"); got != nil {
		t.Errorf("chain d..a = %v, want none", got)
	}
}
