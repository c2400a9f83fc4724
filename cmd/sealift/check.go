package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/sealift-dev/sealift/config"
)

// minKubernetes is the oldest API server sealift supports: the Sync CRD's
// validation rules (x-kubernetes-validations, CEL) are GA from 1.29.
const minKubernetesMajor, minKubernetesMinor = 1, 29

type checkOptions struct {
	pre  bool
	kube kubeOptions
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [--pre]",
		Short: "Check the cluster and the installed controller",
		Long: `Check that sealift can work in the cluster: the API server's version, the Sync CRD
established, the controller Deployment Available, and the controller's RBAC, asked of the
API server with SelfSubjectAccessReviews made as the controller's service account (which
needs the right to impersonate it; a cluster administrator has it).

--pre checks before an install instead: the version, and that you may create what
'sealift install' creates. Exit 0 only when every check passes.`,
		Example: `  sealift check --pre
  sealift check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.pre, "pre", false, "check before an install: the version and your own rights")
	o.kube.addFlags(fs)
	return cmd
}

// checker prints one line per check and counts failures.
type checker struct {
	out    io.Writer
	failed []string
}

func (c *checker) ok(format string, args ...any) { fmt.Fprintf(c.out, "✔ "+format+"\n", args...) }

func (c *checker) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(c.out, "✗ "+msg)
	c.failed = append(c.failed, msg)
}

func (o *checkOptions) run(cmd *cobra.Command) error {
	cfg, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c := &checker{out: cmd.OutOrStdout()}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if !checkVersion(ctx, c, cfg) {
		// Nothing else can be asked of a server that does not answer.
		return checkResult(c)
	}
	if o.pre {
		checkAccess(ctx, c, dyn, "your user", installRights)
		return checkResult(c)
	}
	checkCRD(ctx, c, dyn)
	checkController(ctx, c, dyn)
	checkControllerRBAC(ctx, c, cfg)
	return checkResult(c)
}

func checkResult(c *checker) error {
	if len(c.failed) == 0 {
		fmt.Fprintln(c.out, "✔ all checks passed")
		return nil
	}
	return withHint(fmt.Errorf("%d check(s) failed: %s", len(c.failed), strings.Join(c.failed, "; ")),
		"install or repair with 'sealift install --image REF'")
}

func checkVersion(ctx context.Context, c *checker, cfg *rest.Config) bool {
	v, err := serverVersion(ctx, cfg)
	if err != nil {
		c.fail("API server: %v", err)
		return false
	}
	major, _ := strconv.Atoi(v.Major)
	minor, _ := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if major < minKubernetesMajor || major == minKubernetesMajor && minor < minKubernetesMinor {
		c.fail("Kubernetes %s: sealift needs %d.%d or newer", v.GitVersion, minKubernetesMajor, minKubernetesMinor)
		return true
	}
	c.ok("Kubernetes %s >= %d.%d", v.GitVersion, minKubernetesMajor, minKubernetesMinor)
	return true
}

func checkCRD(ctx context.Context, c *checker, dyn dynamic.Interface) {
	crd, err := dyn.Resource(crdGVR).Get(ctx, config.CRDName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.fail("CustomResourceDefinition %s is missing", config.CRDName)
		return
	case err != nil:
		c.fail("CustomResourceDefinition %s: %v", config.CRDName, err)
		return
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			var versions []string
			vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			for _, v := range vs {
				if vm, ok := v.(map[string]any); ok && vm["served"] == true {
					versions = append(versions, fmt.Sprint(vm["name"]))
				}
			}
			c.ok("CustomResourceDefinition %s is established (serving %s)", config.CRDName, strings.Join(versions, ", "))
			return
		}
	}
	c.fail("CustomResourceDefinition %s is not established", config.CRDName)
}

func checkController(ctx context.Context, c *checker, dyn dynamic.Interface) {
	d, err := dyn.Resource(deploymentsGVR).Namespace(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.fail("controller Deployment %s/%s is missing", config.Namespace, config.Deployment)
		return
	case err != nil:
		c.fail("controller Deployment %s/%s: %v", config.Namespace, config.Deployment, err)
		return
	}
	res, err := status.Compute(d)
	if err != nil {
		c.fail("controller Deployment %s/%s: %v", config.Namespace, config.Deployment, err)
		return
	}
	ready, _, _ := unstructured.NestedInt64(d.Object, "status", "readyReplicas")
	want, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
	if res.Status != status.CurrentStatus {
		c.fail("controller %s/%s is not ready (%d/%d): %s", config.Namespace, config.Deployment, ready, want, res.Message)
		return
	}
	c.ok("controller %s/%s is ready (%d/%d, image %s)", config.Namespace, config.Deployment, ready, want, deploymentImage([]*unstructured.Unstructured{d}))
}

// right is one access a check asks for.
type right struct {
	verb, group, resource, namespace string
	why                              string
}

func (r right) String() string {
	res, sub, _ := strings.Cut(r.resource, "/")
	if r.group != "" {
		res += "." + r.group
	}
	if sub != "" {
		res += "/" + sub
	}
	if r.namespace != "" {
		return fmt.Sprintf("%s %s in %s", r.verb, res, r.namespace)
	}
	return r.verb + " " + res
}

// controllerRights are what the controller needs whatever its Syncs hold.
var controllerRights = []right{
	{verb: "watch", group: "sealift.dev", resource: "syncs", why: "see Syncs"},
	{verb: "patch", group: "sealift.dev", resource: "syncs", why: "keep the finalizer"},
	{verb: "update", group: "sealift.dev", resource: "syncs/status", why: "report status"},
	{verb: "get", resource: "secrets", why: "read keys and registry credentials"},
	{verb: "create", group: "events.k8s.io", resource: "events", why: "record events"},
	{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: config.Namespace, why: "hold the leader Lease"},
}

// installRights are what `sealift install` creates.
var installRights = []right{
	{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
	{verb: "create", resource: "namespaces"},
	{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
	{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"},
	{verb: "create", group: "apps", resource: "deployments", namespace: config.Namespace},
	{verb: "create", resource: "persistentvolumeclaims", namespace: config.Namespace},
	{verb: "create", group: "networking.k8s.io", resource: "networkpolicies", namespace: config.Namespace},
}

// ssarGVR is the SelfSubjectAccessReview resource. It is created through
// the dynamic client: the typed clientset would add ~200 packages to every
// sealift command's start-up.
var ssarGVR = authzv1.SchemeGroupVersion.WithResource("selfsubjectaccessreviews")

// allowed asks the API server whether the caller of dyn may do r.
func allowed(ctx context.Context, dyn dynamic.Interface, r right) (bool, error) {
	review := &authzv1.SelfSubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: authzv1.SchemeGroupVersion.String(), Kind: "SelfSubjectAccessReview"},
		Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
			Verb: r.verb, Group: r.group, Resource: strings.Split(r.resource, "/")[0], Subresource: subresource(r.resource), Namespace: r.namespace,
		}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(review)
	if err != nil {
		return false, err
	}
	res, err := dyn.Resource(ssarGVR).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	ok, _, err := unstructured.NestedBool(res.Object, "status", "allowed")
	return ok, err
}

func subresource(resource string) string {
	_, sub, _ := strings.Cut(resource, "/")
	return sub
}

// checkAccess reports each of rights for who.
func checkAccess(ctx context.Context, c *checker, dyn dynamic.Interface, who string, rights []right) bool {
	all := true
	var missing []string
	for _, r := range rights {
		ok, err := allowed(ctx, dyn, r)
		if err != nil {
			c.fail("RBAC of %s: %v", who, err)
			return false
		}
		if !ok {
			all = false
			missing = append(missing, r.String())
		}
	}
	if all {
		c.ok("RBAC: %s has the %d rights checked", who, len(rights))
	} else {
		c.fail("RBAC: %s may not %s", who, strings.Join(missing, ", "))
	}
	return all
}

// checkControllerRBAC asks, as the controller's service account, for the
// rights it needs, and says how it may apply what Syncs hold: everything
// (the default install) or by impersonating service accounts (lockdown).
func checkControllerRBAC(ctx context.Context, c *checker, cfg *rest.Config) {
	sa := "system:serviceaccount:" + config.Namespace + ":" + config.ServiceAccount
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: sa}
	dyn, err := dynamic.NewForConfig(as)
	if err != nil {
		c.fail("RBAC: %v", err)
		return
	}
	who := "the controller (" + sa + ")"
	if _, err := allowed(ctx, dyn, controllerRights[0]); apierrors.IsForbidden(err) {
		c.fail("RBAC of the controller cannot be checked: you may not impersonate %s (%v)", sa, err)
		return
	}
	checkAccess(ctx, c, dyn, who, controllerRights)
	all, err := allowed(ctx, dyn, right{verb: "*", group: "*", resource: "*"})
	if err != nil {
		c.fail("RBAC of %s: %v", who, err)
		return
	}
	if all {
		c.ok("RBAC: the controller may apply anything its Syncs hold (cluster-admin)")
		return
	}
	imp, err := allowed(ctx, dyn, right{verb: "impersonate", resource: "serviceaccounts"})
	if err != nil {
		c.fail("RBAC of %s: %v", who, err)
		return
	}
	if imp {
		c.ok("RBAC: the controller applies as each Sync's service account (lockdown: impersonation only)")
		return
	}
	c.fail("RBAC: the controller may neither apply everything nor impersonate service accounts, so no Sync can apply")
}

// serverVersion reads the API server's /version, as discovery does (its
// client would bring the whole typed scheme into sealift's start-up).
func serverVersion(ctx context.Context, cfg *rest.Config) (*kversion.Info, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath("version").String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /version: %s", resp.Status)
	}
	var v kversion.Info
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return nil, fmt.Errorf("GET /version: %w", err)
	}
	return &v, nil
}
