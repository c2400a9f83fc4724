package deploy_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/deploy"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/kubetest"
)

var env *kubetest.Env

// The controller manager finalizes the namespaces that prune deletes.
func TestMain(m *testing.M) {
	os.Exit(kubetest.RunWith(m, &env, kubetest.Options{ControllerManager: true}))
}

var (
	nsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmGVR     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	svcGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	crGVR     = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
)

// objects decodes a multi-document YAML string, replacing NS with ns.
func objects(t *testing.T, ns, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(strings.ReplaceAll(docs, "NS", ns), "\n---\n") {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("test manifest: %v", err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func newManager(t *testing.T, opts deploy.ManagerOptions) *deploy.Manager {
	t.Helper()
	m, err := deploy.NewManager(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dyn(t *testing.T) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func actions(cs *deploy.ChangeSet) map[string]deploy.Action {
	out := map[string]deploy.Action{}
	for _, c := range cs.Changes {
		out[c.Object] = c.Action
	}
	return out
}

func wantActions(t *testing.T, cs *deploy.ChangeSet, want map[string]deploy.Action) {
	t.Helper()
	got := actions(cs)
	if len(cs.Changes) != len(want) {
		t.Errorf("changes = %v, want %v", cs.Changes, want)
	}
	for obj, a := range want {
		if got[obj] != a {
			t.Errorf("%s: action %q, want %q (all: %v)", obj, got[obj], a, cs.Changes)
		}
	}
}

const appSet = `apiVersion: v1
kind: Namespace
metadata:
  name: NS
  labels: {team: web}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: NS
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080`

func TestApplyCreatesThenUnchangedThenConfigured(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-cycle"
	m := newManager(t, deploy.ManagerOptions{})
	objs := objects(t, ns, appSet)
	all := func(a deploy.Action) map[string]deploy.Action {
		return map[string]deploy.Action{
			"Namespace/" + ns: a, "ConfigMap/" + ns + "/web": a,
			"Deployment/" + ns + "/web": a, "Service/" + ns + "/web": a,
		}
	}

	cs, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	wantActions(t, cs, all(deploy.ActionCreated))
	if cs.Changes[0].Object != "Namespace/"+ns {
		t.Errorf("stage 1 (Namespace) not first: %v", cs.Changes)
	}

	c := dyn(t)
	for _, tc := range []struct {
		gvr       schema.GroupVersionResource
		namespace string
		name      string
	}{
		{nsGVR, "", ns}, {cmGVR, ns, "web"}, {deployGVR, ns, "web"}, {svcGVR, ns, "web"},
	} {
		t.Run("managedFields "+tc.gvr.Resource, func(t *testing.T) {
			live, err := c.Resource(tc.gvr).Namespace(tc.namespace).Get(ctx, tc.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, mf := range live.GetManagedFields() {
				if mf.Manager == deploy.FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply {
					found = true
				}
			}
			if !found {
				t.Errorf("no Apply managedFields entry for %q: %+v", deploy.FieldOwner, live.GetManagedFields())
			}
		})
	}

	cs, err = m.ApplyAllStaged(ctx, objects(t, ns, appSet))
	if err != nil {
		t.Fatalf("re-apply: %v", err)
	}
	wantActions(t, cs, all(deploy.ActionUnchanged))

	changed := objects(t, ns, strings.Replace(appSet, "greeting: hello", "greeting: bonjour", 1))
	cs, err = m.ApplyAllStaged(ctx, changed)
	if err != nil {
		t.Fatalf("apply change: %v", err)
	}
	want := all(deploy.ActionUnchanged)
	want["ConfigMap/"+ns+"/web"] = deploy.ActionConfigured
	wantActions(t, cs, want)
	live, err := c.Resource(cmGVR).Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(live.Object, "data", "greeting"); got != "bonjour" {
		t.Errorf("greeting = %q, want bonjour", got)
	}
	// The caller's objects are not modified.
	if changed[1].GetResourceVersion() != "" || changed[1].GetManagedFields() != nil {
		t.Errorf("input object was modified: %v", changed[1].Object["metadata"])
	}
}

func TestApplyTakesBackFieldsEditedByAnotherManager(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-drift"
	m := newManager(t, deploy.ManagerOptions{})
	set := `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
  namespace: NS
data:
  mode: strict`
	if _, err := m.ApplyAllStaged(ctx, objects(t, ns, set)); err != nil {
		t.Fatal(err)
	}
	// As `kubectl edit` would: an update under another manager, changing a
	// field sealift owns and adding one it does not set.
	patch := []byte(`{"data":{"mode":"lax","extra":"kept"}}`)
	c := dyn(t).Resource(cmGVR).Namespace(ns)
	if _, err := c.Patch(ctx, "conf", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	cs, err := m.ApplyAllStaged(ctx, objects(t, ns, set))
	if err != nil {
		t.Fatalf("re-apply after edit: %v", err)
	}
	wantActions(t, cs, map[string]deploy.Action{
		"Namespace/" + ns: deploy.ActionUnchanged, "ConfigMap/" + ns + "/conf": deploy.ActionConfigured,
	})
	for _, ch := range cs.Changes {
		if ch.Object == "ConfigMap/"+ns+"/conf" && !slices.Equal(ch.TookFrom, []string{"kubectl-edit"}) {
			t.Errorf("TookFrom = %v, want [kubectl-edit]", ch.TookFrom)
		}
	}
	if !strings.Contains(cs.String(), "took fields from kubectl-edit") {
		t.Errorf("change set does not name the manager it took fields from:\n%s", cs)
	}
	live, err := c.Get(ctx, "conf", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := unstructured.NestedStringMap(live.Object, "data")
	if data["mode"] != "strict" || data["extra"] != "kept" {
		t.Errorf("data = %v, want mode=strict (taken back) and extra=kept (not ours)", data)
	}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == "kubectl-edit" && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:mode"`) {
			t.Errorf("kubectl-edit still owns data.mode: %s", mf.FieldsV1.Raw)
		}
	}
}

const crdSet = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.sealift.test
spec:
  group: sealift.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: sealift.test/v1
kind: Widget
metadata:
  name: w1
  namespace: NS
spec:
  size: 3
---
apiVersion: v1
kind: Namespace
metadata:
  name: NS`

func TestApplyCRDAndItsCustomResourceInOneSet(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-crd"
	m := newManager(t, deploy.ManagerOptions{})
	// The custom resource comes before its CRD and namespace in the input.
	objs := objects(t, ns, crdSet)
	cs, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	wantActions(t, cs, map[string]deploy.Action{
		"CustomResourceDefinition/widgets.sealift.test": deploy.ActionCreated,
		"Namespace/" + ns:      deploy.ActionCreated,
		"Widget/" + ns + "/w1": deploy.ActionCreated,
	})
	if last := cs.Changes[len(cs.Changes)-1].Object; last != "Widget/"+ns+"/w1" {
		t.Errorf("custom resource not applied last: %v", cs.Changes)
	}
	w, err := dyn(t).Resource(schema.GroupVersionResource{Group: "sealift.test", Version: "v1", Resource: "widgets"}).
		Namespace(ns).Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get widget: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Errorf("spec.size = %d, want 3", size)
	}
}

func TestApplyRefusesUnknownKindBeforeApplyingAnything(t *testing.T) {
	ctx := context.Background()
	const ns = "apply-unknown"
	m := newManager(t, deploy.ManagerOptions{})
	objs := objects(t, ns, `apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: nowhere.example/v1
kind: Gadget
metadata:
  name: g
  namespace: NS`)
	cs, err := m.ApplyAllStaged(ctx, objs)
	if err == nil {
		t.Fatal("apply of an unknown kind succeeded")
	}
	var ae *deploy.ApplyError
	if !errors.As(err, &ae) || ae.Object != "Gadget/"+ns+"/g" {
		t.Errorf("error %v is not an ApplyError for Gadget/%s/g", err, ns)
	}
	if !meta.IsNoMatchError(err) || !strings.Contains(err.Error(), "nowhere.example/v1, Kind=Gadget") {
		t.Errorf("error does not name the unknown kind: %v", err)
	}
	if errdef.IsTerminal(err) {
		t.Errorf("unknown kind is terminal; installing the CRD later should fix it: %v", err)
	}
	if len(cs.Changes) != 0 {
		t.Errorf("changes = %v, want none", cs.Changes)
	}
	if _, err := dyn(t).Resource(nsGVR).Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: get = %v, want NotFound: the set was refused", ns, err)
	}
}

func TestApplyTargetNamespace(t *testing.T) {
	ctx := context.Background()
	const target = "apply-target"
	m := newManager(t, deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{TargetNamespace: target, AllowClusterScoped: true}})
	objs := objects(t, "ignored", `apiVersion: v1
kind: Namespace
metadata:
  name: `+target+`
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: moved
  namespace: somewhere-else
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unset
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: apply-target-reader
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]`)
	cs, err := m.ApplyAllStaged(ctx, objs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	wantActions(t, cs, map[string]deploy.Action{
		"Namespace/" + target:             deploy.ActionCreated,
		"ClusterRole/apply-target-reader": deploy.ActionCreated,
		"ConfigMap/" + target + "/moved":  deploy.ActionCreated,
		"ConfigMap/" + target + "/unset":  deploy.ActionCreated,
	})
	c := dyn(t)
	for _, name := range []string{"moved", "unset"} {
		if _, err := c.Resource(cmGVR).Namespace(target).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s not in %s: %v", name, target, err)
		}
	}
	if _, err := c.Resource(crGVR).Get(ctx, "apply-target-reader", metav1.GetOptions{}); err != nil {
		t.Errorf("cluster-scoped ClusterRole: %v", err)
	}
	if objs[1].GetNamespace() != "somewhere-else" {
		t.Errorf("input object namespace changed to %q", objs[1].GetNamespace())
	}
}

func TestApplyRefusesBadSets(t *testing.T) {
	tests := []struct {
		name   string
		opts   deploy.ManagerOptions
		docs   string
		errHas string
	}{
		{
			name:   "namespaced object without namespace",
			docs:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orphan",
			errHas: "no namespace",
		},
		{
			name:   "duplicates after the target namespace",
			opts:   deploy.ManagerOptions{ApplyOptions: deploy.ApplyOptions{TargetNamespace: "default"}},
			docs:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: b}",
			errHas: "duplicate object ConfigMap/default/x",
		},
		{
			name:   "missing name",
			docs:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: default}",
			errHas: "metadata.name",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, tc.opts)
			cs, err := m.ApplyAllStaged(context.Background(), objects(t, "", tc.docs))
			if !errors.Is(err, errdef.ErrInvalidObject) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want ErrInvalidObject saying %q", err, tc.errHas)
			}
			if len(cs.Changes) != 0 {
				t.Errorf("changes = %v, want none", cs.Changes)
			}
		})
	}
}

func TestApplyInvalidObjectIsTerminal(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, deploy.ManagerOptions{})
	objs := objects(t, "", `apiVersion: v1
kind: Service
metadata:
  name: bad
  namespace: default
spec:
  ports:
  - port: 99999`)
	_, err := m.ApplyAllStaged(ctx, objs)
	var ae *deploy.ApplyError
	if !errors.As(err, &ae) || ae.Object != "Service/default/bad" || !errdef.IsTerminal(err) {
		t.Fatalf("err = %v, want a terminal ApplyError for Service/default/bad", err)
	}
}

func TestApplyAdoptsIdenticalObjectCreatedByAnotherManager(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, deploy.ManagerOptions{})
	objs := objects(t, "", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: adopted\n  namespace: default\ndata:\n  k: v")
	c := dyn(t).Resource(cmGVR).Namespace("default")
	if _, err := c.Create(ctx, objs[0].DeepCopy(), metav1.CreateOptions{FieldManager: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	// Same content, but sealift owns nothing yet: the apply must take
	// ownership, so it is a change, and the next one is not.
	for _, want := range []deploy.Action{deploy.ActionConfigured, deploy.ActionUnchanged} {
		cs, err := m.ApplyAllStaged(ctx, objs)
		if err != nil {
			t.Fatal(err)
		}
		wantActions(t, cs, map[string]deploy.Action{"ConfigMap/default/adopted": want})
	}
	live, err := c.Get(ctx, "adopted", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned := false
	for _, mf := range live.GetManagedFields() {
		owned = owned || (mf.Manager == deploy.FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !owned {
		t.Errorf("sealift does not own the adopted object: %+v", live.GetManagedFields())
	}
}
