package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/config"
	"github.com/sealift-dev/sealift/deploy"
)

// installOwner is the owner sealift's own install is applied as: its
// objects carry these ownership labels and its inventory is kept in the
// ConfigMap sealift-inventory-sealift of sealift-system, so an upgrade
// prunes what a newer install no longer holds and uninstall finds what an
// older one created.
var installOwner = deploy.Owner{Namespace: config.Namespace, Name: "sealift"}

// Defaults of the install commands' --timeout.
const (
	// defaultInstallTimeout covers pulling the image and the first start.
	defaultInstallTimeout = 5 * time.Minute
	// defaultUninstallTimeout covers the controller pruning deleted Syncs
	// (--prune-workloads) and the API server removing the CRD.
	defaultUninstallTimeout = 5 * time.Minute
)

// syncFinalizer is the finalizer the controller keeps on every Sync.
const syncFinalizer = "sealift.dev/finalizer"

var (
	syncsGVR       = sealiftv1.GroupVersion.WithResource("syncs")
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	controllerRef  = deploy.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: config.Namespace, Name: config.Deployment}
)

type installOptions struct {
	image, registry string
	export          bool
	lockdown        bool
	timeout         time.Duration
	kube            kubeOptions
}

func newInstallCmd() *cobra.Command {
	var o installOptions
	cmd := &cobra.Command{
		Use:   "install --image REF [--registry MIRROR] [--lockdown] [--export]",
		Short: "Install the controller in a cluster (or print its manifests)",
		Long: `Install sealift in the cluster: the sealift-system Namespace (restricted Pod Security
profile enforced), the Sync CRD, the controller's ServiceAccount and RBAC, its Deployment
(leader election, probes, limits), the cache's PersistentVolumeClaim, a metrics Service and
a NetworkPolicy. The manifests are built into this binary (config/default in the
repository; --lockdown: config/lockdown, where the controller may only impersonate the
service accounts Syncs name). They are applied with sealift's own server-side apply, and
the command waits until the controller Deployment is Available.

Running it again upgrades: changed objects are updated and objects the new install no
longer holds are deleted (the install keeps its inventory in the ConfigMap
sealift-inventory-sealift of sealift-system).

--registry replaces the host and path of --image (everything before its last element), for
a cluster that pulls from a mirror: mirror the image (and its signatures) with
'sealift mirror', then install with --registry pointing at the mirror.`,
		Example: `  sealift install --image registry.example/sealift/sealift@sha256:...
  sealift install --image registry.example/sealift/sealift:v0.3.0 --registry mirror.internal:5000/sealift
  sealift install --image registry.example/sealift/sealift:v0.3.0 --export > sealift.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.image, "image", "", "controller image (host/path:tag or @sha256:digest; built by 'make image')")
	fs.StringVar(&o.registry, "registry", "", "pull the image from this registry (host[:port][/path]) instead of --image's")
	fs.BoolVar(&o.export, "export", false, "print the manifests instead of applying them")
	fs.BoolVar(&o.lockdown, "lockdown", false, "install the lockdown overlay: no cluster-admin, the controller only impersonates service accounts")
	fs.DurationVar(&o.timeout, "timeout", defaultInstallTimeout, "how long to wait for the controller to become Available")
	o.kube.addFlags(fs)
	return cmd
}

func (o *installOptions) overlay() string {
	if o.lockdown {
		return config.Lockdown
	}
	return config.Default
}

func (o *installOptions) run(cmd *cobra.Command) error {
	manifests, err := config.Render(config.Options{Overlay: o.overlay(), Image: o.image, Registry: o.registry})
	if err != nil {
		return withHint(err, "pass --image host/path:tag or host/path@sha256:<digest>, and --registry host[:port][/path]")
	}
	if o.export {
		_, err := cmd.OutOrStdout().Write(manifests)
		return err
	}
	if o.image == "" {
		return withHint(errors.New("--image is required to install"),
			"build and push the image with 'make image IMAGE=host/path:tag KEY=cosign.key' and pass --image host/path@sha256:<digest> (or --export to print the manifests)")
	}
	if o.timeout <= 0 {
		return withHint(fmt.Errorf("--timeout %s: must be positive", o.timeout), "pass --timeout 5m")
	}
	objs, err := decodeManifests(manifests)
	if err != nil {
		return err
	}
	cfg, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	// The install is an administrator's explicit act: it adopts sealift's
	// objects whoever applied them before (kubectl apply -k, an older
	// install, a Sync).
	m, err := deploy.NewManager(cfg, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: installOwner, Adopt: deploy.AdoptAlways}})
	if err != nil {
		return err
	}
	old, found, err := m.ReadInventory(ctx)
	if err != nil {
		return withHint(err, "check that you may read ConfigMaps in %s", config.Namespace)
	}
	image := deploymentImage(objs)
	fmt.Fprintf(out, "► applying %d objects (image %s)\n", len(objs), image)
	cs, applyErr := m.ApplyAllStaged(ctx, objs)
	applied := deploy.NewInventory(append(slices.Clone(old), cs.Inventory()...)...)
	if applyErr != nil {
		// Record what was applied, so a retry or an uninstall finds it.
		if werr := m.WriteInventory(ctx, applied); werr != nil {
			applyErr = errors.Join(applyErr, werr)
		}
		return withHint(fmt.Errorf("install: %w", applyErr), "fix the cause and run 'sealift install' again; it resumes where this one stopped")
	}
	next := cs.Inventory()
	if found {
		pruned, err := m.Prune(ctx, old, next, deploy.PruneOptions{MaxPercent: deploy.Unlimited})
		next = deploy.NextInventory(old, next, pruned)
		if err != nil {
			_ = m.WriteInventory(ctx, next)
			return fmt.Errorf("install: remove what the previous install held and this one does not: %w", err)
		}
		for _, c := range pruned.Changes {
			if c.Action == deploy.ActionDeleted {
				fmt.Fprintf(out, "✔ deleted %s (no longer part of the install)\n", c.Object)
			}
		}
	}
	if err := m.WriteInventory(ctx, next); err != nil {
		return err
	}
	fmt.Fprintf(out, "✔ applied: %d created, %d configured, %d unchanged\n",
		cs.Count(deploy.ActionCreated), cs.Count(deploy.ActionConfigured)+cs.Count(deploy.ActionRecreated), cs.Count(deploy.ActionUnchanged))
	fmt.Fprintf(out, "◎ waiting up to %s for %s/%s to become Available\n", o.timeout, config.Namespace, config.Deployment)
	if err := m.Wait(ctx, deploy.Inventory{controllerRef}, deploy.WaitOptions{Timeout: o.timeout}); err != nil {
		return withHint(fmt.Errorf("the controller is not ready: %w", err),
			"look at 'kubectl -n %s get pods' and 'kubectl -n %s describe deployment %s'; check that the nodes can pull %s",
			config.Namespace, config.Namespace, config.Deployment, image)
	}
	fmt.Fprintf(out, "✔ sealift is installed: %s/%s is Available\n", config.Namespace, config.Deployment)
	return nil
}

// deploymentImage returns the controller container's image in objs.
func deploymentImage(objs []*unstructured.Unstructured) string {
	for _, o := range objs {
		if o.GetKind() == "Deployment" && o.GetName() == config.Deployment {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(cs) > 0 {
				img, _, _ := unstructured.NestedString(cs[0].(map[string]any), "image")
				return img
			}
		}
	}
	return ""
}

// decodeManifests splits a YAML stream into objects.
func decodeManifests(stream []byte) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode the install manifests: %w", err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

type uninstallOptions struct {
	pruneWorkloads bool
	keepNamespace  bool
	timeout        time.Duration
	kube           kubeOptions
}

func newUninstallCmd() *cobra.Command {
	var o uninstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall [--prune-workloads] [--keep-namespace]",
		Short: "Remove the controller, its RBAC and the Sync CRD from the cluster",
		Long: `Remove sealift from the cluster: every Sync, then the controller and everything the
install created, then the Sync CRD and the sealift-system Namespace.

By default what the Syncs applied stays in the cluster: each Sync is first suspended (so a
running controller keeps its objects when it sees the Sync deleted), then deleted, and its
finalizer is dropped, so nothing waits on a controller that may not be running. The Syncs'
inventory ConfigMaps stay beside the workloads (except in sealift-system, which is deleted
unless --keep-namespace).

With --prune-workloads the Syncs are deleted while the controller runs, and the controller
prunes what each applied before letting it go (a suspended Sync, or one with prune: false,
keeps its objects); the controller and the CRD are removed only once every Sync is gone,
so a failed prune leaves sealift in place to retry. The controller must be running.`,
		Example: `  sealift uninstall
  sealift uninstall --prune-workloads --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.pruneWorkloads, "prune-workloads", false, "also delete what the Syncs applied (the controller prunes each Sync before it goes)")
	fs.BoolVar(&o.keepNamespace, "keep-namespace", false, "leave the sealift-system Namespace (and whatever else it holds)")
	fs.DurationVar(&o.timeout, "timeout", defaultUninstallTimeout, "how long to wait for the Syncs and the CRD to be gone")
	o.kube.addFlags(fs)
	return cmd
}

func (o *uninstallOptions) run(cmd *cobra.Command) error {
	if o.timeout <= 0 {
		return withHint(fmt.Errorf("--timeout %s: must be positive", o.timeout), "pass --timeout 5m")
	}
	cfg, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	out := cmd.OutOrStdout()

	syncs, err := dyn.Resource(syncsGVR).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err):
		syncs = &unstructured.UnstructuredList{} // no CRD, so no Sync
	case err != nil:
		return fmt.Errorf("uninstall: list Syncs: %w", err)
	}
	if o.pruneWorkloads && len(syncs.Items) > 0 {
		if err := controllerAvailable(ctx, dyn); err != nil {
			return withHint(fmt.Errorf("uninstall --prune-workloads: %w", err),
				"the controller prunes what each Sync applied, so it must run: fix it, or uninstall without --prune-workloads to keep the workloads")
		}
	}
	for _, s := range syncs.Items {
		if err := o.removeSync(ctx, dyn, &s); err != nil {
			return err
		}
	}
	if err := waitSyncsGone(ctx, dyn, syncs.Items); err != nil {
		if o.pruneWorkloads {
			return withHint(err, "the controller stays installed: see 'kubectl get events -n NAMESPACE' for why a prune fails, then run uninstall again (or without --prune-workloads)")
		}
		return err
	}
	if len(syncs.Items) > 0 {
		what := "their workloads kept"
		if o.pruneWorkloads {
			what = "their workloads pruned"
		}
		fmt.Fprintf(out, "✔ deleted %d Sync(s), %s\n", len(syncs.Items), what)
	}

	refs, err := installedObjects(ctx, cfg)
	if err != nil {
		return err
	}
	for _, stage := range uninstallStages(refs, o.keepNamespace) {
		for _, r := range stage {
			if err := deleteRef(ctx, dyn, r); err != nil {
				if errors.Is(err, errUnknownKind) {
					fmt.Fprintf(out, "! left %s in place: %v\n", r, err)
					continue
				}
				return err
			}
		}
	}
	fmt.Fprintf(out, "✔ deleted the controller, its RBAC and its volume claim\n")
	if err := waitGone(ctx, dyn.Resource(crdGVR), config.CRDName); err != nil {
		return fmt.Errorf("uninstall: CustomResourceDefinition %s: %w", config.CRDName, err)
	}
	fmt.Fprintf(out, "✔ deleted the CustomResourceDefinition %s\n", config.CRDName)
	if !o.keepNamespace {
		fmt.Fprintf(out, "✔ deleted the Namespace %s (its contents go as the cluster empties it)\n", config.Namespace)
	}
	fmt.Fprintln(out, "✔ sealift is uninstalled")
	return nil
}

// removeSync deletes one Sync. Without --prune-workloads it is suspended
// first (a controller that sees it deleted then keeps its objects) and its
// finalizer dropped after the delete (no finalizer can be added once a
// deletion is under way, so nothing waits on a controller).
func (o *uninstallOptions) removeSync(ctx context.Context, dyn dynamic.Interface, s *unstructured.Unstructured) error {
	r := dyn.Resource(syncsGVR).Namespace(s.GetNamespace())
	name := s.GetNamespace() + "/" + s.GetName()
	if !o.pruneWorkloads {
		_, err := r.Patch(ctx, s.GetName(), types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("uninstall: suspend Sync %s: %w", name, err)
		}
	}
	if err := r.Delete(ctx, s.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("uninstall: delete Sync %s: %w", name, err)
	}
	if o.pruneWorkloads {
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := r.Get(ctx, s.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		fin := live.GetFinalizers()
		keep := slices.DeleteFunc(slices.Clone(fin), func(f string) bool { return f == syncFinalizer })
		if len(keep) == len(fin) {
			return nil
		}
		live.SetFinalizers(keep)
		_, err = r.Update(ctx, live, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("uninstall: drop the finalizer of Sync %s: %w", name, err)
	}
	return nil
}

// controllerAvailable checks that the controller Deployment reports
// Available.
func controllerAvailable(ctx context.Context, dyn dynamic.Interface) error {
	d, err := dyn.Resource(deploymentsGVR).Namespace(config.Namespace).Get(ctx, config.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the controller Deployment %s/%s: %w", config.Namespace, config.Deployment, err)
	}
	conds, _, _ := unstructured.NestedSlice(d.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Available" && m["status"] == "True" {
			return nil
		}
	}
	return fmt.Errorf("the controller Deployment %s/%s is not Available", config.Namespace, config.Deployment)
}

// waitSyncsGone waits until none of syncs exists any more, and names those
// left when time runs out, with their Ready message.
func waitSyncsGone(ctx context.Context, dyn dynamic.Interface, syncs []unstructured.Unstructured) error {
	for {
		var left []string
		for _, s := range syncs {
			live, err := dyn.Resource(syncsGVR).Namespace(s.GetNamespace()).Get(ctx, s.GetName(), metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil && ctx.Err() == nil:
				return fmt.Errorf("uninstall: read Sync %s/%s: %w", s.GetNamespace(), s.GetName(), err)
			case err != nil:
				left = append(left, s.GetNamespace()+"/"+s.GetName())
			default:
				left = append(left, s.GetNamespace()+"/"+s.GetName()+readyMessage(live))
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("uninstall: %d Sync(s) not gone in time: %v: %w", len(left), left, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// pollInterval is how often uninstall re-reads what it waits for.
const pollInterval = 500 * time.Millisecond

func readyMessage(s *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(s.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == sealiftv1.ConditionReady {
			return fmt.Sprintf(" (Ready=%v: %v)", m["status"], m["message"])
		}
	}
	return ""
}

// installedObjects returns what an install created: the objects of both
// overlays as this binary holds them, and whatever the install inventory
// recorded (objects an older install created).
func installedObjects(ctx context.Context, cfg *rest.Config) (deploy.Inventory, error) {
	var refs deploy.Inventory
	for _, overlay := range []string{config.Default, config.Lockdown} {
		manifests, err := config.Render(config.Options{Overlay: overlay})
		if err != nil {
			return nil, err
		}
		objs, err := decodeManifests(manifests)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			refs = append(refs, deploy.RefOf(o))
		}
	}
	m, err := deploy.NewManager(cfg, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{Owner: installOwner}})
	if err != nil {
		return nil, err
	}
	old, _, err := m.ReadInventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("uninstall: %w", err)
	}
	refs = append(refs, old...)
	refs = append(refs, deploy.ObjectRef{Kind: "ConfigMap", Namespace: installOwner.Namespace, Name: deploy.InventoryName(installOwner.Name)})
	return deploy.NewInventory(refs...), nil
}

// uninstallStages orders the deletes: the controller first (nothing
// reconciles while the rest goes), then everything else, then the CRD, then
// the Namespace.
func uninstallStages(refs deploy.Inventory, keepNamespace bool) [][]deploy.ObjectRef {
	var controller, rest, crd, ns []deploy.ObjectRef
	for _, r := range refs {
		switch {
		case r == controllerRef:
			controller = append(controller, r)
		case r.Kind == "CustomResourceDefinition":
			crd = append(crd, r)
		case r.Kind == "Namespace" && r.Group == "":
			if !keepNamespace {
				ns = append(ns, r)
			}
		default:
			rest = append(rest, r)
		}
	}
	return [][]deploy.ObjectRef{controller, rest, crd, ns}
}

// installKinds maps the kinds an install holds to their resources and
// scope (true: namespaced). A table rather than discovery: client-go's
// discovery client and REST mapper would add ~100 packages to every sealift
// command's start-up, and an install holds only these kinds.
var installKinds = map[schema.GroupKind]struct {
	resource   schema.GroupVersionResource
	namespaced bool
}{
	{Kind: "Namespace"}:                 {schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	{Kind: "ServiceAccount"}:            {schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
	{Kind: "ConfigMap"}:                 {schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	{Kind: "Service"}:                   {schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
	{Kind: "PersistentVolumeClaim"}:     {schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, true},
	{Group: "apps", Kind: "Deployment"}: {deploymentsGVR, true},
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: {crdGVR, false},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:  {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, true},
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:         {schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, true},
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:               {schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}, true},
}

// errUnknownKind marks an object of a kind no install of this version
// holds (one a newer sealift installed).
var errUnknownKind = errors.New("a kind this sealift does not install")

// deleteRef deletes one object (in the background: dependents go with the
// garbage collector); one already gone is skipped.
func deleteRef(ctx context.Context, dyn dynamic.Interface, r deploy.ObjectRef) error {
	k, ok := installKinds[r.GroupKind()]
	if !ok {
		return fmt.Errorf("uninstall: %s: %w", r, errUnknownKind)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(k.resource)
	if k.namespaced {
		ri = dyn.Resource(k.resource).Namespace(r.Namespace)
	}
	bg := metav1.DeletePropagationBackground
	if err := ri.Delete(ctx, r.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("uninstall: delete %s: %w", r, err)
	}
	return nil
}

// waitGone waits until the object name of r no longer exists.
func waitGone(ctx context.Context, r dynamic.ResourceInterface, name string) error {
	for {
		_, err := r.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
