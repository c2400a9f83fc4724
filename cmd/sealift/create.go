package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
)

func newCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create or update objects in the cluster, or print them with --export",
	}
	cmd.AddCommand(newCreateSyncCmd())
	return cmd
}

type createSyncOptions struct {
	kube kubeOptions
	ns   namespaceOptions

	url                       string
	tag, semver, semverFilter string
	digest                    string
	insecure                  bool
	secretRef, certSecretRef  string
	keySecrets                []string
	verifyMode                string
	path                      string
	targetNamespace           string
	prune                     bool
	interval                  time.Duration
	serviceAccount            string
	dependsOn                 []string
	export                    bool
	// changed holds the flags given on the command line.
	changed map[string]bool
}

func newCreateSyncCmd() *cobra.Command {
	var o createSyncOptions
	cmd := &cobra.Command{
		Use:   "sync NAME --url oci://REPO (--tag T | --semver R | --digest D) --key-secret S",
		Short: "Create or update a Sync, or print it with --export",
		Long: `Create a Sync, or update the one of that name, with server-side apply (field manager
sealift-cli; fields set by other managers are taken over, fields this command does not set
are left alone). With --export, nothing is sent: the Sync is printed as YAML that
'kubectl apply -f -' and 'sealift sync --once -f' accept.

The Sync is checked as the API checks it (api/v1alpha1 Validate) before the cluster is
reached. --key-secret names a Secret of the Sync's namespace whose keys ending in .pub are
cosign public keys (kubectl create secret generic S --from-file=cosign.pub); give it once
per key. Without one, the Sync could never apply anything, so it is required unless
--verify-mode audit.`,
		Example: `  sealift create sync podinfo --url oci://registry.example.com/apps/podinfo --tag 1.4.2 \
    --key-secret cosign-pub --target-namespace apps --prune -n sealift-system
  sealift create sync podinfo --url oci://registry.example.com/apps/podinfo --semver '>=1.4.0 <2.0.0' \
    --key-secret cosign-pub --interval 1m --export > podinfo-sync.yaml`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.changed = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.changed[f.Name] = true })
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "the artifact's repository, oci://host/path (no tag: use --tag, --semver or --digest)")
	f.StringVar(&o.tag, "tag", "", "apply this tag")
	f.StringVar(&o.semver, "semver", "", "apply the highest tag matching this semver range, e.g. '>=1.4.0 <2.0.0'")
	f.StringVar(&o.semverFilter, "semver-filter", "", "with --semver, consider only tags matching this regexp")
	f.StringVar(&o.digest, "digest", "", "apply this digest (sha256:...)")
	f.BoolVar(&o.insecure, "insecure", false, "reach the registry over plain HTTP (loopback and tests)")
	f.StringVar(&o.secretRef, "secret-ref", "", "Secret (kubernetes.io/dockerconfigjson) holding the registry's credentials")
	f.StringVar(&o.certSecretRef, "cert-secret-ref", "", "Secret holding the registry's CA (ca.crt) and client certificate (tls.crt, tls.key)")
	f.StringArrayVar(&o.keySecrets, "key-secret", nil, "Secret whose *.pub keys must have signed the artifact (repeatable)")
	f.StringVar(&o.verifyMode, "verify-mode", string(sealiftv1.VerifyEnforce), "enforce (apply only what the keys signed) or audit (apply, and report the verdict)")
	f.StringVar(&o.path, "path", "", "directory inside the artifact holding the manifests")
	f.StringVar(&o.targetNamespace, "target-namespace", "", "namespace set on every namespaced object applied")
	f.BoolVar(&o.prune, "prune", false, "delete the objects that leave the artifact")
	f.DurationVar(&o.interval, "interval", 0, "time between reconciles (default: the controller's, 5m)")
	f.StringVar(&o.serviceAccount, "service-account", "", "service account of the Sync's namespace to impersonate when applying")
	f.StringSliceVar(&o.dependsOn, "depends-on", nil, "Syncs of the same namespace that must be Ready first (comma-separated or repeated)")
	f.BoolVar(&o.export, "export", false, "print the Sync as YAML instead of applying it")
	o.ns.addFlags(f, false)
	o.kube.addFlags(f)
	return cmd
}

func (o *createSyncOptions) run(cmd *cobra.Command, name string) error {
	if err := o.ns.validate(); err != nil {
		return err
	}
	ns, err := o.ns.resolve(&o.kube)
	if err != nil {
		return err
	}
	s, err := o.build(name, ns)
	if err != nil {
		return err
	}
	if o.export {
		return writeSyncYAML(cmd.OutOrStdout(), s)
	}
	api, err := newSyncAPI(&o.kube)
	if err != nil {
		return err
	}
	applied, err := api.apply(cmd.Context(), s)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "✔ Sync %s/%s applied (generation %d)\n", applied.Namespace, applied.Name, applied.Generation)
	fmt.Fprintf(cmd.ErrOrStderr(), "follow it with 'sealift get syncs -n %s' or 'sealift reconcile sync %s -n %s'\n", applied.Namespace, applied.Name, applied.Namespace)
	return nil
}

// build turns the flags into a Sync and checks it as the API does, naming
// the flag at fault. Nothing here reaches the network.
func (o *createSyncOptions) build(name, ns string) (*sealiftv1.Sync, error) {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, withHint(fmt.Errorf("NAME %q: not a valid object name: %s", name, strings.Join(errs, "; ")), "use lower-case letters, digits, '-' and '.'")
	}
	if o.url == "" {
		return nil, withHint(errors.New("--url is required"), "pass the artifact's repository, e.g. --url oci://registry.example.com/apps/podinfo")
	}
	set := 0
	for _, v := range []string{o.tag, o.semver, o.digest} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return nil, withHint(errors.New("--tag, --semver and --digest: exactly one is required"), "pass --tag 1.4.2, --semver '>=1.4.0 <2.0.0' or --digest sha256:...")
	}
	if o.changed["semver-filter"] && o.semver == "" {
		return nil, withHint(errors.New("--semver-filter needs --semver"), "add --semver RANGE or drop --semver-filter")
	}
	mode := sealiftv1.VerifyMode(o.verifyMode)
	if mode != sealiftv1.VerifyEnforce && mode != sealiftv1.VerifyAudit {
		return nil, withHint(fmt.Errorf("--verify-mode %q: want %s or %s", o.verifyMode, sealiftv1.VerifyEnforce, sealiftv1.VerifyAudit), "pass --verify-mode enforce (the default) or audit")
	}
	if mode == sealiftv1.VerifyEnforce && len(o.keySecrets) == 0 {
		return nil, withHint(errors.New("--key-secret is required: with --verify-mode enforce and no key, nothing could ever be applied"),
			"create a Secret holding the public key (kubectl create secret generic cosign-pub --from-file=cosign.pub -n %s) and pass --key-secret cosign-pub", ns)
	}
	if o.interval < 0 || (o.changed["interval"] && o.interval == 0) {
		return nil, withHint(fmt.Errorf("--interval %s: must be positive", o.interval), "pass a duration such as 1m or 5m, or leave --interval out for the controller's default")
	}
	for _, n := range []struct {
		flag   string
		values []string
	}{
		{"--key-secret", o.keySecrets},
		{"--secret-ref", o.given("secret-ref", o.secretRef)},
		{"--cert-secret-ref", o.given("cert-secret-ref", o.certSecretRef)},
		{"--depends-on", o.dependsOn},
	} {
		for _, v := range n.values {
			if err := objectName(n.flag, v); err != nil {
				return nil, err
			}
		}
	}
	if o.targetNamespace != "" {
		if errs := validation.IsDNS1123Label(o.targetNamespace); len(errs) > 0 {
			return nil, withHint(fmt.Errorf("--target-namespace %q: not a namespace name: %s", o.targetNamespace, strings.Join(errs, "; ")), "pass a lower-case DNS label such as apps")
		}
	}
	if o.serviceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(o.serviceAccount); len(errs) > 0 {
			return nil, withHint(fmt.Errorf("--service-account %q: not a service account name: %s", o.serviceAccount, strings.Join(errs, "; ")), "pass the name of a ServiceAccount in namespace %s", ns)
		}
	}

	s := &sealiftv1.Sync{
		TypeMeta:   metav1.TypeMeta{APIVersion: sealiftv1.APIVersion, Kind: sealiftv1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
	}
	spec := &s.Spec
	spec.Source.URL = o.url
	spec.Source.Ref = &sealiftv1.Ref{Tag: o.tag, Semver: o.semver, SemverFilter: o.semverFilter, Digest: o.digest}
	spec.Source.Insecure = o.insecure
	if o.secretRef != "" {
		spec.Source.SecretRef = &sealiftv1.LocalObjectReference{Name: o.secretRef}
	}
	if o.certSecretRef != "" {
		spec.Source.CertSecretRef = &sealiftv1.LocalObjectReference{Name: o.certSecretRef}
	}
	for _, k := range o.keySecrets {
		spec.Verify.Keys = append(spec.Verify.Keys, sealiftv1.Key{SecretRef: &sealiftv1.LocalObjectReference{Name: k}})
	}
	if o.changed["verify-mode"] {
		spec.Verify.Mode = mode
	}
	spec.Path = o.path
	spec.TargetNamespace = o.targetNamespace
	spec.Prune = o.prune
	if o.interval > 0 {
		spec.Interval = &metav1.Duration{Duration: o.interval}
	}
	spec.ServiceAccountName = o.serviceAccount
	for _, d := range o.dependsOn {
		spec.DependsOn = append(spec.DependsOn, sealiftv1.LocalObjectReference{Name: d})
	}
	if err := s.Validate(); err != nil {
		flag := flagOfField(err)
		return nil, withHint(fmt.Errorf("%s: %w", flag, err), "fix the value of %s", flag)
	}
	return s, nil
}

// given returns v as a list when flag was given, so that an empty value
// given explicitly is checked too.
func (o *createSyncOptions) given(flag, v string) []string {
	if o.changed[flag] {
		return []string{v}
	}
	return nil
}

// objectName checks one object name given to flag.
func objectName(flag, v string) error {
	if strings.Contains(v, "/") {
		return withHint(fmt.Errorf("%s %q: a name in the Sync's own namespace, not namespace/name", flag, v), "give the name alone; cross-namespace references are not supported")
	}
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		return withHint(fmt.Errorf("%s %q: not a valid object name: %s", flag, v, strings.Join(errs, "; ")), "use lower-case letters, digits, '-' and '.'")
	}
	return nil
}

// specFlags maps the fields Validate names to the flags that set them,
// most specific first.
var specFlags = []struct{ field, flag string }{
	{"spec.source.url", "--url"},
	{"spec.source.ref", "--tag, --semver, --semver-filter or --digest"},
	{"spec.source.secretRef", "--secret-ref"},
	{"spec.source.certSecretRef", "--cert-secret-ref"},
	{"spec.verify", "--key-secret or --verify-mode"},
	{"spec.interval", "--interval"},
	{"spec.dependsOn", "--depends-on"},
	{"metadata.namespace", "--namespace"},
	{"metadata.name", "NAME"},
}

// flagOfField names the flag behind the field a validation error names.
func flagOfField(err error) string {
	msg := err.Error()
	for _, f := range specFlags {
		if strings.Contains(msg, f.field) {
			return f.flag
		}
	}
	return "the flags"
}

// writeSyncYAML prints s as one YAML document, with the "---" separator
// so that exports can be concatenated.
func writeSyncYAML(w io.Writer, s *sealiftv1.Sync) error {
	obj, err := syncObject(s)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode Sync %s: %w", s.Key(), err)
	}
	_, err = fmt.Fprintf(w, "---\n%s", b)
	return err
}

// exactArgs requires n positional arguments, naming them when missing.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return withHint(fmt.Errorf("%s takes %s, got %d arguments", cmd.CommandPath(), names, len(args)), "see '%s --help'", cmd.CommandPath())
		}
		return nil
	}
}
