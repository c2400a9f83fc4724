package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
)

// syncResource is the Sync resource as the API server serves it.
var syncResource = sealiftv1.GroupVersion.WithResource("syncs")

// cliFieldManager owns the fields the operator's commands write (create's
// apply, suspend, resume, the reconcile request), apart from the field
// manager "sealift" of the objects Syncs apply: a Sync that is itself
// applied by another Sync keeps what the operator changed by hand until the
// artifact sets the same field.
const cliFieldManager = "sealift-cli"

// namespaceOptions is -n/--namespace, and -A/--all-namespaces for the
// commands that list.
type namespaceOptions struct {
	Namespace     string
	AllNamespaces bool
}

func (o *namespaceOptions) addFlags(fs *pflag.FlagSet, all bool) {
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's namespace, else \"default\")")
	if all {
		fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "every namespace")
	}
}

func (o *namespaceOptions) validate() error {
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return withHint(fmt.Errorf("--namespace %q: not a namespace name: %s", o.Namespace, strings.Join(errs, "; ")), "pass a lower-case DNS label such as apps")
		}
	}
	if o.AllNamespaces && o.Namespace != "" {
		return withHint(errors.New("--all-namespaces and --namespace exclude each other"), "pass one of them")
	}
	return nil
}

// resolve returns the namespace to work in: the flag, else the kubeconfig
// context's (or, in a Pod, the service account's), else "default"; empty
// with --all-namespaces. Reading it touches no network.
func (o *namespaceOptions) resolve(kube *kubeOptions) (string, error) {
	if o.AllNamespaces {
		return "", nil
	}
	if o.Namespace != "" {
		return o.Namespace, nil
	}
	ns, _, err := kube.clientConfig().Namespace()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return sealiftv1.DefaultNamespace, nil
	case err != nil:
		return "", withHint(fmt.Errorf("load kubeconfig: %w", err), "pass --kubeconfig FILE or set KUBECONFIG, or pass --namespace")
	case ns == "":
		return sealiftv1.DefaultNamespace, nil
	}
	return ns, nil
}

// syncAPI reads and writes Syncs with the dynamic client: it keeps the
// typed clientset and controller-runtime's client out of the CLI, as
// deploy keeps client-go's discovery out.
type syncAPI struct {
	cfg *rest.Config
	dyn dynamic.Interface
}

// connect resolves the namespace and builds the client for Syncs; the
// caller has checked its flags before.
func (o *namespaceOptions) connect(kube *kubeOptions) (string, *syncAPI, error) {
	ns, err := o.resolve(kube)
	if err != nil {
		return "", nil, err
	}
	api, err := newSyncAPI(kube)
	if err != nil {
		return "", nil, err
	}
	return ns, api, nil
}

// newSyncAPI builds the client for Syncs from the kubeconfig flags.
func newSyncAPI(kube *kubeOptions) (*syncAPI, error) {
	cfg, err := kube.restConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &syncAPI{cfg: cfg, dyn: dyn}, nil
}

// syncs is the Sync resource in namespace ns (every namespace when empty).
func (a *syncAPI) syncs(ns string) dynamic.ResourceInterface {
	if ns == "" {
		return a.dyn.Resource(syncResource)
	}
	return a.dyn.Resource(syncResource).Namespace(ns)
}

// get returns Sync ns/name; a missing Sync and a cluster that does not
// serve Syncs are told apart, each with what to do next.
func (a *syncAPI) get(ctx context.Context, ns, name string) (*sealiftv1.Sync, error) {
	u, err := a.syncs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, a.explain(ctx, ns, name, err)
	}
	return toSync(u)
}

// list returns the Syncs of ns (every namespace when empty), sorted by
// namespace and name, as the server sent them.
func (a *syncAPI) list(ctx context.Context, ns string) ([]unstructured.Unstructured, error) {
	l, err := a.syncs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, a.explain(ctx, ns, "", err)
	}
	items := l.Items
	slices.SortFunc(items, func(x, y unstructured.Unstructured) int {
		if c := strings.Compare(x.GetNamespace(), y.GetNamespace()); c != 0 {
			return c
		}
		return strings.Compare(x.GetName(), y.GetName())
	})
	return items, nil
}

// patch merges patch into Sync ns/name, as cliFieldManager.
func (a *syncAPI) patch(ctx context.Context, ns, name string, patch []byte) (*sealiftv1.Sync, error) {
	u, err := a.syncs(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: cliFieldManager})
	if err != nil {
		return nil, a.explain(ctx, ns, name, err)
	}
	return toSync(u)
}

// apply creates or updates s with server-side apply, taking the fields it
// sets from any other manager, and with strict field validation, as
// `kubectl apply --server-side` does.
func (a *syncAPI) apply(ctx context.Context, s *sealiftv1.Sync) (*sealiftv1.Sync, error) {
	obj, err := syncObject(s)
	if err != nil {
		return nil, err
	}
	u, err := a.syncs(s.Namespace).Apply(ctx, s.Name, &unstructured.Unstructured{Object: obj},
		metav1.ApplyOptions{FieldManager: cliFieldManager, Force: true})
	if err != nil {
		if apierrors.IsNotFound(err) && !a.serves(ctx, s.Namespace) {
			return nil, a.notServed(err)
		}
		if apierrors.IsNotFound(err) {
			return nil, withHint(fmt.Errorf("apply Sync %s/%s: %w", s.Namespace, s.Name, err), "create the namespace first: kubectl create namespace %s", s.Namespace)
		}
		return nil, withHint(fmt.Errorf("apply Sync %s/%s: %w", s.Namespace, s.Name, err), "%s", clusterHint(err))
	}
	return toSync(u)
}

// waitFor reads Sync ns/name and then watches it until done holds, the
// Sync is deleted, or ctx ends; it returns the last Sync seen.
func (a *syncAPI) waitFor(ctx context.Context, ns, name string, done func(*sealiftv1.Sync) bool) (*sealiftv1.Sync, error) {
	var last *sealiftv1.Sync
	for {
		u, err := a.syncs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, a.explain(ctx, ns, name, err)
		}
		if last, err = toSync(u); err != nil {
			return nil, err
		}
		if done(last) {
			return last, nil
		}
		w, err := a.syncs(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector:   "metadata.name=" + name,
			ResourceVersion: u.GetResourceVersion(),
		})
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			return last, withHint(fmt.Errorf("watch Sync %s/%s: %w", ns, name, err), "%s", clusterHint(err))
		}
		s, finished, err := watchUntil(w, done)
		w.Stop()
		if s != nil {
			last = s
		}
		if err != nil || finished {
			return last, err
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		// The server closed the watch (its timeout, or a compaction):
		// read the Sync again and watch from there.
	}
}

// watchUntil reads w's events until done holds of a Sync (finished), the
// Sync is deleted (an error), or the watch ends (neither).
func watchUntil(w watch.Interface, done func(*sealiftv1.Sync) bool) (last *sealiftv1.Sync, finished bool, err error) {
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			s, err := toSync(u)
			if err != nil {
				return last, false, err
			}
			last = s
			if done(s) {
				return s, true, nil
			}
		case watch.Deleted:
			return last, false, fmt.Errorf("Sync was deleted while waiting for it: %w", errdef.ErrNotFound)
		case watch.Error:
			return last, false, nil
		}
	}
	return last, false, nil
}

// explain turns an error about Sync ns/name (or the Syncs of ns when name
// is empty) into one that says what is missing: the Sync, or the CRD.
func (a *syncAPI) explain(ctx context.Context, ns, name string, err error) error {
	if !apierrors.IsNotFound(err) {
		return withHint(fmt.Errorf("%s: %w", syncWhat(ns, name), err), "%s", clusterHint(err))
	}
	if name == "" || !a.serves(ctx, ns) {
		return a.notServed(err)
	}
	return withHint(fmt.Errorf("Sync %q not found in namespace %q: %w", name, ns, errdef.ErrNotFound),
		"list the Syncs with 'sealift get syncs -n %s' (or -A for every namespace)", ns)
}

// serves reports whether the API server serves Syncs: a list in ns
// answers 404 only when the resource itself is unknown (a missing
// namespace lists empty). When the answer is anything else, it is assumed
// to serve them, so a missing Sync is reported as such.
func (a *syncAPI) serves(ctx context.Context, ns string) bool {
	_, err := a.syncs(ns).List(ctx, metav1.ListOptions{Limit: 1})
	return !apierrors.IsNotFound(err)
}

// notServed is the error for a cluster without the Sync CRD.
func (a *syncAPI) notServed(err error) error {
	return withHint(fmt.Errorf("the API server at %s does not serve %s syncs: the Sync CRD is not installed (%v): %w",
		a.cfg.Host, sealiftv1.GroupVersion, err, errdef.ErrNotFound),
		"install sealift with 'sealift install', or the CRD alone with 'kubectl apply -f config/crd/sealift.dev_syncs.yaml'")
}

func syncWhat(ns, name string) string {
	switch {
	case name != "":
		return fmt.Sprintf("Sync %s/%s", ns, name)
	case ns != "":
		return fmt.Sprintf("list Syncs in namespace %s", ns)
	}
	return "list Syncs"
}

// clusterHint says what to do about an API error other than not found.
func clusterHint(err error) string {
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return "the kubeconfig's user lacks the permission; ask for it, or pass --context or --kubeconfig for another user"
	case apierrors.IsInvalid(err):
		return "fix the value the API server names"
	}
	return "check that the cluster in --kubeconfig (or $KUBECONFIG, --context) is reachable"
}

// toSync converts a Sync read from the API server.
func toSync(u *unstructured.Unstructured) (*sealiftv1.Sync, error) {
	var s sealiftv1.Sync
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
		return nil, fmt.Errorf("decode Sync %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return &s, nil
}

// syncObject is the document that describes s: apiVersion, kind,
// metadata (name, namespace, labels, annotations) and spec; no status and
// no server-set metadata. It is what create writes and applies.
func syncObject(s *sealiftv1.Sync) (map[string]any, error) {
	doc := &sealiftv1.Sync{
		TypeMeta: metav1.TypeMeta{APIVersion: sealiftv1.APIVersion, Kind: sealiftv1.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, Labels: s.Labels, Annotations: s.Annotations,
		},
		Spec: s.Spec,
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(doc)
	if err != nil {
		return nil, fmt.Errorf("encode Sync %s: %w", s.Key(), err)
	}
	delete(obj, "status")
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return obj, nil
}
