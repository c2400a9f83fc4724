package render

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
	"unicode"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// An artifact must never make a build reach the network or run a program.
// Kustomize (v0.21) decides what to fetch from the raw entry string, in two
// places the engine cannot switch off through krusty's options:
//
//   - loading a base (resources, bases, components, and generators,
//     transformers and validators that are not inline configurations): when
//     git.NewRepoSpecFromURL accepts the entry it runs `git init`, `git fetch
//     --depth=1 <url> <ref>` and `git checkout` with the git found on PATH.
//     Any ssh://, https://, http:// or file:// prefix (after an optional
//     "git::"), a user@ prefix or a github.com/ or github.com: prefix makes an
//     entry a repository; the ?ref= query becomes a git argument.
//   - loading a file (every file field and builtin plugin configuration):
//     when url.Parse gives the entry an http or https scheme it downloads it
//     with a default HTTP client.
//
// So every entry kustomize may load is checked on the raw string, as
// kustomize reads it, with remoteReason: kustomize's own decision (through
// resource.Origin.Append, which runs git.NewRepoSpecFromURL, and a copy of
// loader.IsRemoteFile) and, beyond it, anything a local path never needs.
// The whole artifact is checked before the build starts.

// scpUser is kustomize's username prefix (user@host:path, SCP style).
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// remoteReason returns why kustomize could fetch entry instead of reading
// a file of the artifact, or "" when it is a plain local path.
func remoteReason(entry string) string {
	switch {
	case strings.IndexFunc(entry, unicode.IsControl) >= 0:
		return "it holds a control character (kustomize would try it as a git URL)"
	case hasPrefixFold(entry, "git::"):
		return "kustomize would clone it as a git repository"
	case kustomizeClones(entry):
		return "kustomize would clone it as a git repository"
	case kustomizeDownloads(entry):
		return "kustomize would download it"
	case strings.Contains(entry, ":"):
		return "it holds a colon (a URL scheme or host:path)"
	case strings.Contains(entry, "?"):
		return "it holds a query"
	case strings.Contains(entry, "//"):
		return `it holds "//" (kustomize's repository/path separator)`
	case strings.Contains(entry, `\`):
		return "it holds a backslash"
	case scpUser.MatchString(entry):
		return "it starts with user@ (a git host)"
	}
	return ""
}

// kustomizeClones reports whether kustomize's git.NewRepoSpecFromURL
// accepts entry: resource.Origin.Append runs it and records the repository.
func kustomizeClones(entry string) (remote bool) {
	defer func() {
		if recover() != nil {
			remote = true
		}
	}()
	return (&resource.Origin{}).Append(entry).Repo != ""
}

// kustomizeDownloads is kustomize's loader.IsRemoteFile.
func kustomizeDownloads(entry string) bool {
	u, err := url.Parse(entry)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// refusal names the file, the field and the entry kustomize would fetch.
func refusal(file, field, entry, why string) error {
	return fmt.Errorf("%s: %s entry %q: %w: %s", file, field, entry, errdef.ErrUnsupportedMediaType, why)
}

// checkKustomization refuses a kustomization (the file named file, holding
// data) that could make the build reach the network or run programs:
// remote bases (git clones), remote files (HTTP downloads), Helm charts, and
// inline configurations of builtin plugins that do either. Entries
// kustomize may load as a base must name a file or directory inside the
// artifact: exists reports that for an absolute slash path in the
// in-memory copy.
func checkKustomization(file string, data []byte, exists func(string) bool) error {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil { // kustomize's own parser
		return fmt.Errorf("%s: %w: %w", file, errdef.ErrInvalidObject, err)
	}
	k.FixKustomization() // bases become resources, env becomes envs, ...
	dir := path.Dir("/" + file)
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil || len(k.HelmChartInflationGenerator) > 0 {
		return refusal(file, "helmCharts", "", "Helm charts are not supported; render them before pushing")
	}

	// Entries kustomize may load as a base, and so clone from git.
	base := func(field, e string) error {
		if why := remoteReason(e); why != "" {
			return refusal(file, field, e, why+"; remote bases are not supported")
		}
		p := e
		if !path.IsAbs(p) {
			// Safe to join: remoteReason refused "//", "\" and control
			// characters, so joining changes nothing kustomize would see.
			p = path.Join(dir, p)
		}
		if !exists(p) {
			return refusal(file, field, e, "not a file or directory in the artifact (remote bases are not supported)")
		}
		return nil
	}
	for _, e := range k.Resources {
		if err := base("resources", e); err != nil {
			return err
		}
	}
	for _, e := range k.Components {
		if err := base("components", e); err != nil {
			return err
		}
	}
	plugins := map[string][]string{"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators}
	for _, field := range []string{"generators", "transformers", "validators"} {
		for _, e := range plugins[field] {
			inline, err := inlineConfig(e)
			if err != nil {
				return fmt.Errorf("%s: %s entry: %w", file, field, err)
			}
			if inline == nil {
				if err := base(field, e); err != nil {
					return err
				}
				continue
			}
			for _, res := range inline.Resources() {
				m, err := res.Map()
				if err != nil {
					return fmt.Errorf("%s: %s entry: %w: %w", file, field, errdef.ErrInvalidObject, err)
				}
				if err := checkBuiltinConfig(file+": "+field, m); err != nil {
					return err
				}
			}
		}
	}

	// Entries kustomize loads as files, and so may download.
	fileEntry := func(field, e string) error {
		if why := remoteReason(e); why != "" {
			return refusal(file, field, e, why+"; remote files are not supported")
		}
		return nil
	}
	// Entries that may also be inline content: kustomize reads them as a
	// file path first, and a string holding a newline is never a URL to
	// net/url (so never downloaded) nor a file name in an artifact.
	inlineOrFile := func(field, e string) error {
		if strings.Contains(e, "\n") {
			return checkAliases(file+": "+field, []byte(e))
		}
		return fileEntry(field, e)
	}
	type entry struct{ field, value string }
	var files []entry
	add := func(field string, vs ...string) {
		for _, v := range vs {
			if v != "" {
				files = append(files, entry{field, v})
			}
		}
	}
	add("crds", k.Crds...)
	add("configurations", k.Configurations...)
	add("openapi", k.OpenAPI["path"])
	for _, p := range append(append([]types.Patch{}, k.Patches...), k.PatchesJson6902...) {
		add("patches", p.Path)
		if p.Patch != "" {
			if err := checkAliases(file+": patches", []byte(p.Patch)); err != nil {
				return err
			}
		}
	}
	for _, rf := range k.Replacements {
		add("replacements", rf.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		add("configMapGenerator", kvFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		add("secretGenerator", kvFiles(g.KvPairSources)...)
	}
	for _, f := range files {
		if err := fileEntry(f.field, f.value); err != nil {
			return err
		}
	}
	for _, p := range k.PatchesStrategicMerge {
		if err := inlineOrFile("patchesStrategicMerge", string(p)); err != nil {
			return err
		}
	}
	return nil
}

// kvFiles lists the files a generator reads: files (as "key=path" or
// "path") and env files.
func kvFiles(kv types.KvPairSources) []string {
	var out []string
	for _, f := range kv.FileSources {
		if _, v, ok := strings.Cut(f, "="); ok {
			out = append(out, f) // the whole entry too: it is what kustomize may parse
			f = v
		}
		out = append(out, f)
	}
	out = append(out, kv.EnvSources...)
	return append(out, kv.EnvSource)
}

// resmapFactory parses inline plugin configurations the way kustomize does.
var resmapFactory = resmap.NewFactory(provider.NewDepProvider().GetResourceFactory())

// inlineConfig returns the configurations in a generators, transformers or
// validators entry when kustomize reads it as inline YAML, or nil when
// kustomize reads it as a path. The entry is checked for alias bombs first:
// kustomize parses it without a limit.
func inlineConfig(e string) (resmap.ResMap, error) {
	if err := checkAliases("inline configuration", []byte(e)); err != nil {
		return nil, err
	}
	rm, err := resmapFactory.NewResMapFromBytes([]byte(e))
	if err != nil {
		return nil, nil // not inline: kustomize loads it as a path
	}
	return rm, nil
}

// builtinFileFields are the top-level fields of builtin plugin
// configurations that kustomize loads as files (PatchTransformer,
// PatchJson6902Transformer, PatchStrategicMergeTransformer,
// ReplacementTransformer, ValueAddTransformer, ConfigMap and Secret
// generators).
var builtinFileFields = []string{"path", "paths", "files", "envs", "env", "targetFilePath", "valuesFile", "additionalValuesFiles"}

// checkBuiltinConfig refuses a builtin plugin configuration (apiVersion
// "builtin") that names a remote file or a Helm chart; configurations of
// other plugins are left to kustomize, which refuses them (plugins are off).
func checkBuiltinConfig(where string, m map[string]any) error {
	if v, _ := m["apiVersion"].(string); v != "builtin" {
		return nil
	}
	kind, _ := m["kind"].(string)
	if kind == "HelmChartInflationGenerator" {
		return refusal(where, kind, "", "Helm charts are not supported; render them before pushing")
	}
	var values []string
	for _, f := range builtinFileFields {
		values = append(values, stringsOf(m[f])...)
	}
	if rs, ok := m["replacements"].([]any); ok {
		for _, r := range rs {
			if rm, ok := r.(map[string]any); ok {
				values = append(values, stringsOf(rm["path"])...)
			}
		}
	}
	for _, v := range values {
		if strings.Contains(v, "\n") {
			// Inline content (a patch): never a URL to net/url.
			if err := checkAliases(where+" "+kind, []byte(v)); err != nil {
				return err
			}
			continue
		}
		if _, after, ok := strings.Cut(v, "="); ok {
			if why := remoteReason(after); why != "" {
				return refusal(where, kind, v, why+"; remote files are not supported")
			}
		}
		if why := remoteReason(v); why != "" {
			return refusal(where, kind, v, why+"; remote files are not supported")
		}
	}
	// Inline patches and other nested YAML are parsed by kustomize too.
	if p, ok := m["patch"].(string); ok {
		if err := checkAliases(where+" "+kind, []byte(p)); err != nil {
			return err
		}
	}
	return nil
}

// stringsOf returns v as a list of strings: a string, or the strings of a list.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// checkFile checks one file of an artifact before kustomize may read it:
// no YAML alias bomb, and no builtin plugin configuration that fetches.
// Files that are not YAML are left alone: kustomize either reads them as
// data (generator files) or fails to parse them.
func checkFile(name string, data []byte) error {
	if err := checkAliases(name, data); err != nil {
		return err
	}
	if !bytes.Contains(data, []byte("builtin")) {
		return nil
	}
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var node kyaml.Node
		if err := dec.Decode(&node); err != nil {
			return nil // end, or not YAML
		}
		var m map[string]any
		if err := node.Decode(&m); err != nil {
			continue // not a mapping: not a plugin configuration
		}
		if err := checkBuiltinConfig(fmt.Sprintf("%s: document %d", name, n), m); err != nil {
			return err
		}
	}
}

// checkAliases refuses YAML whose aliases expand it far beyond what is
// written. Every document goes through the decoder plain rendering uses,
// which stops excessive aliasing, and through the parser kustomize uses,
// counting the nodes aliases add (at most limits.MaxYAMLAliasNodes).
// Documents that do not parse are left to kustomize, which cannot parse
// them either.
func checkAliases(name string, data []byte) error {
	refuse := func(err error) error {
		return fmt.Errorf("%s: %w: YAML aliases expand beyond %d nodes: %w", name, errdef.ErrSizeExceedsLimit, limits.MaxYAMLAliasNodes, err)
	}
	if !bytes.Contains(data, []byte("*")) {
		return nil // no alias
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if err != nil {
			break // io.EOF, or not YAML
		}
		if _, err := yaml.YAMLToJSON(doc); err != nil && strings.Contains(err.Error(), "excessive aliasing") {
			return refuse(err)
		}
	}
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	for {
		var node kyaml.Node
		if err := dec.Decode(&node); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return nil // not YAML to kustomize either
		}
		c := aliasCounter{memo: map[*kyaml.Node]int{}, busy: map[*kyaml.Node]bool{}}
		if extra := c.expanded(&node) - countNodes(&node); extra > limits.MaxYAMLAliasNodes {
			return refuse(fmt.Errorf("aliases add more than %d nodes", extra))
		}
	}
}

// aliasCap saturates node counts so they cannot overflow.
const aliasCap = 1 << 40

// aliasCounter counts the nodes of a YAML tree with every alias expanded,
// without expanding anything: each anchored node's size is computed once.
type aliasCounter struct {
	memo map[*kyaml.Node]int
	busy map[*kyaml.Node]bool
}

func (c *aliasCounter) expanded(n *kyaml.Node) int {
	if n == nil {
		return 0
	}
	if n.Kind == kyaml.AliasNode {
		if c.busy[n.Alias] {
			return aliasCap // an alias inside its own anchor
		}
		return c.expanded(n.Alias)
	}
	if v, ok := c.memo[n]; ok {
		return v
	}
	c.busy[n] = true
	size := 1
	for _, child := range n.Content {
		if size += c.expanded(child); size >= aliasCap {
			size = aliasCap
			break
		}
	}
	c.busy[n] = false
	c.memo[n] = size
	return size
}

// countNodes counts the nodes as written (an alias is one node).
func countNodes(n *kyaml.Node) int {
	if n == nil {
		return 0
	}
	size := 1
	if n.Kind == kyaml.AliasNode {
		return size
	}
	for _, child := range n.Content {
		size += countNodes(child)
	}
	return size
}
