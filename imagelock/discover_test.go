package imagelock_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
)

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// podSpec is a pod spec with every container list, indented by indent.
func podSpec(indent string) string {
	s := `containers:
- name: app
  image: ghcr.io/acme/app:1.0
- name: sidecar
  image: localhost:5000/proxy@` + dgst + `
initContainers:
- name: init
  image: busybox
ephemeralContainers:
- name: debug
  image: library/alpine:3
`
	return indent + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+indent) + "\n"
}

func TestFindEveryWorkloadShape(t *testing.T) {
	fields := func(prefix string) []string {
		return []string{prefix + ".containers[0].image", prefix + ".containers[1].image", prefix + ".ephemeralContainers[0].image", prefix + ".initContainers[0].image"}
	}
	images := []string{"ghcr.io/acme/app:1.0", "localhost:5000/proxy@" + dgst, "library/alpine:3", "busybox"}
	tests := []struct {
		name, doc, object, prefix string
	}{
		{"Pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n" + podSpec("  "), "Pod/ns/p", "spec"},
		{"Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "Deployment.apps/d", "spec.template.spec"},
		{"StatefulSet", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "StatefulSet.apps/s", "spec.template.spec"},
		{"DaemonSet", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "DaemonSet.apps/ds", "spec.template.spec"},
		{"ReplicaSet", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "ReplicaSet.apps/rs", "spec.template.spec"},
		{"ReplicationController", "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "ReplicationController/rc", "spec.template.spec"},
		{"Job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "Job.batch/j", "spec.template.spec"},
		{"CronJob", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n" + podSpec("          "), "CronJob.batch/c", "spec.jobTemplate.spec.template.spec"},
		{"old API version", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "Deployment.extensions/d", "spec.template.spec"},
		{"custom resource with a pod template", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    spec:\n" + podSpec("      "), "Rollout.argoproj.io/r", "spec.template.spec"},
		{"custom resource with a pod spec elsewhere", "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: sj}\nspec:\n  jobTargetRef:\n    template:\n      spec:\n" + podSpec("        "), "ScaledJob.keda.sh/sj", "spec.jobTargetRef.template.spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uses, err := imagelock.Find([]*unstructured.Unstructured{obj(t, tt.doc)})
			if err != nil {
				t.Fatal(err)
			}
			var want []imagelock.Use
			for i, f := range fields(tt.prefix) {
				want = append(want, imagelock.Use{Object: tt.object, Field: f, Image: images[i]})
			}
			if !reflect.DeepEqual(want, uses) {
				t.Errorf("uses:\n got %+v\nwant %+v", uses, want)
			}
		})
	}
}

func TestFindIgnoresWhatIsNoImage(t *testing.T) {
	docs := []string{
		// No pod spec at all.
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  image: nginx\n  containers: '[{\"image\": \"nginx\"}]'\n",
		// Metadata and status are not searched.
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {image: nginx}\nspec:\n  containers: []\nstatus:\n  containers: [{image: nginx}]\n",
		// A schema describing containers is a map, not a list of containers.
		"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x}\nspec:\n  versions:\n  - schema:\n      openAPIV3Schema:\n        properties:\n          containers: {type: array, items: {properties: {image: {type: string}}}}\n",
		// A container without an image.
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a}]\n",
	}
	for i, d := range docs {
		uses, err := imagelock.Find([]*unstructured.Unstructured{obj(t, d)})
		if err != nil || len(uses) != 0 {
			t.Errorf("doc %d: Find = %v, %v; want nothing", i, uses, err)
		}
	}
}

func TestWalkRefusesHiddenImages(t *testing.T) {
	var nested any = map[string]any{"containers": []any{map[string]any{"image": "nginx"}}}
	for range 70 {
		nested = map[string]any{"a": nested}
	}
	deep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Deep", "metadata": map[string]any{"name": "d"}, "spec": nested,
	}}
	if _, err := imagelock.Find([]*unstructured.Unstructured{deep}); !errors.Is(err, errdef.ErrInvalidObject) {
		t.Errorf("Find on an object 70 levels deep = %v, want ErrInvalidObject", err)
	}
	tests := map[string]string{
		"image not a string": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: [nginx]}]\n",
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := imagelock.Find([]*unstructured.Unstructured{obj(t, doc)})
			if !errors.Is(err, errdef.ErrInvalidObject) {
				t.Fatalf("Find = %v, want ErrInvalidObject", err)
			}
		})
	}
}

func TestWalkRewrites(t *testing.T) {
	o := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n"+podSpec("      "))
	err := imagelock.Walk(o, func(field, image string) (string, error) {
		return "mirror.internal/" + strings.ReplaceAll(image, ":", "-"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
	if img := got[0].(map[string]any)["image"]; img != "mirror.internal/busybox" {
		t.Errorf("initContainers[0].image = %v", img)
	}
	stop := errors.New("stop")
	if err := imagelock.Walk(o, func(string, string) (string, error) { return "", stop }); !errors.Is(err, stop) {
		t.Errorf("Walk = %v, want the callback's error", err)
	}
}
