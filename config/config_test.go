package config_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/sealift-dev/sealift/config"
)

// decode splits a YAML stream into objects.
func decode(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the install", kind, name)
	return nil
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, objs, "Deployment", config.Deployment).Object, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestEmbeddedEqualsDisk: what the binary carries builds to what
// `kustomize build config/<overlay>` gives from the repository.
func TestEmbeddedEqualsDisk(t *testing.T) {
	for _, overlay := range []string{config.Default, config.Lockdown} {
		t.Run(overlay, func(t *testing.T) {
			embedded, err := config.Render(config.Options{Overlay: overlay})
			if err != nil {
				t.Fatal(err)
			}
			dir, err := filepath.Abs(overlay)
			if err != nil {
				t.Fatal(err)
			}
			disk, err := config.Build(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(embedded, disk) {
				t.Fatalf("the embedded %s overlay renders differently from config/%s on disk", overlay, overlay)
			}
		})
	}
}

func TestInstallContents(t *testing.T) {
	out, err := config.Render(config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, out)
	ns := find(t, objs, "Namespace", config.Namespace)
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforce label = %q, want restricted", got)
	}
	find(t, objs, "CustomResourceDefinition", config.CRDName)
	find(t, objs, "ServiceAccount", config.ServiceAccount)
	find(t, objs, "PersistentVolumeClaim", "sealift-cache")
	find(t, objs, "Service", "sealift-controller-metrics")
	find(t, objs, "NetworkPolicy", "sealift-controller")
	find(t, objs, "Role", "sealift-leader-election")
	admin := find(t, objs, "ClusterRoleBinding", "sealift-controller-cluster-admin")
	if ref, _, _ := unstructured.NestedString(admin.Object, "roleRef", "name"); ref != "cluster-admin" {
		t.Errorf("default binding refers to %q, want cluster-admin", ref)
	}
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/part-of"] != "sealift" {
			t.Errorf("%s %s lacks app.kubernetes.io/part-of=sealift", o.GetKind(), o.GetName())
		}
		if o.GetKind() != "Namespace" && o.GetNamespace() != "" && o.GetNamespace() != config.Namespace {
			t.Errorf("%s %s is in namespace %s", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}

	d := deployment(t, objs)
	c := d.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--enable-leader-election", "--cache-dir=/var/cache/sealift", "--metrics-addr=:8080", "--health-addr=:9440"} {
		if !strings.Contains(args, want) {
			t.Errorf("controller args %q lack %s", args, want)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources = %+v, want requests and a memory limit", c.Resources)
	}
	var memlimit *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			memlimit = &c.Env[i]
		}
	}
	if memlimit == nil || memlimit.ValueFrom == nil || memlimit.ValueFrom.ResourceFieldRef == nil ||
		memlimit.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || memlimit.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
		t.Errorf("GOMEMLIMIT = %+v, want the container's limits.memory", memlimit)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/var/cache/sealift" {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "sealift-cache" {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Error("the cache PVC is not mounted at --cache-dir")
	}
	if c.Image != config.ImageName {
		t.Errorf("image = %q, want the placeholder %q", c.Image, config.ImageName)
	}
}

func TestLockdown(t *testing.T) {
	out, err := config.Render(config.Options{Overlay: config.Lockdown})
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, out)
	for _, o := range objs {
		if o.GetKind() == "ClusterRoleBinding" {
			if ref, _, _ := unstructured.NestedString(o.Object, "roleRef", "name"); ref == "cluster-admin" {
				t.Errorf("lockdown keeps %s bound to cluster-admin", o.GetName())
			}
		}
	}
	role := find(t, objs, "ClusterRole", "sealift-impersonator")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	if len(rules) != 1 {
		t.Fatalf("impersonator rules = %v, want one", rules)
	}
	r := rules[0].(map[string]any)
	if res := r["resources"].([]any); len(res) != 1 || res[0] != "serviceaccounts" {
		t.Errorf("the controller may impersonate %v, want serviceaccounts only", res)
	}
	args := strings.Join(deployment(t, objs).Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--default-service-account=default", "--no-cross-namespace-refs", "--enable-leader-election"} {
		if !strings.Contains(args, want) {
			t.Errorf("lockdown args %q lack %s", args, want)
		}
	}
}

func TestImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, image, registry, want, err string
	}{
		{name: "placeholder", want: "sealift"},
		{name: "tag", image: "example.com/team/sealift:v1.2.3", want: "example.com/team/sealift:v1.2.3"},
		{name: "port and digest", image: "127.0.0.1:5000/sealift@" + digest, want: "127.0.0.1:5000/sealift@" + digest},
		{name: "tag and digest", image: "example.com/sealift:v1@" + digest, want: "example.com/sealift:v1@" + digest},
		{name: "mirror", image: "example.com/team/sealift:v1@" + digest, registry: "mirror.internal:5000/platform", want: "mirror.internal:5000/platform/sealift:v1@" + digest},
		{name: "mirror of the placeholder", registry: "mirror.internal", want: "mirror.internal/sealift"},
		{name: "mirror with a slash", image: "a.example/sealift:v1", registry: "mirror.internal/", want: "mirror.internal/sealift:v1"},
		{name: "bad image", image: "oci://example.com/sealift", err: "image"},
		{name: "bad registry", image: "a.example/sealift:v1", registry: "mirror:port", err: "registry"},
		{name: "registry with a tag", image: "a.example/sealift:v1", registry: "mirror/x:v2", err: "registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := config.Render(config.Options{Image: tt.image, Registry: tt.registry})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one naming the %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := deployment(t, decode(t, out)).Spec.Template.Spec.Containers[0].Image; got != tt.want {
				t.Fatalf("image = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := config.Render(config.Options{Overlay: "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown overlay: %v", err)
	}
}

// TestRestrictedProfile evaluates the controller's Pod against the
// restricted Pod Security profile with the admission plugin's own checks,
// and shows that the evaluation can fail.
func TestRestrictedProfile(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	for _, overlay := range []string{config.Default, config.Lockdown} {
		out, err := config.Render(config.Options{Overlay: overlay})
		if err != nil {
			t.Fatal(err)
		}
		tmpl := deployment(t, decode(t, out)).Spec.Template
		res := policy.AggregateCheckResults(eval.EvaluatePod(restricted, &tmpl.ObjectMeta, &tmpl.Spec))
		if !res.Allowed {
			t.Errorf("%s: the controller Pod violates the restricted profile: %s", overlay, res.ForbiddenDetail())
		}
		c := &tmpl.Spec.Containers[0]
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the root filesystem is writable", overlay)
		}
		// The same check refuses a container that may escalate.
		escalate := true
		c.SecurityContext.AllowPrivilegeEscalation = &escalate
		if res := policy.AggregateCheckResults(eval.EvaluatePod(restricted, &tmpl.ObjectMeta, &tmpl.Spec)); res.Allowed {
			t.Errorf("%s: a container allowed to escalate passed the restricted profile", overlay)
		}
	}
}
