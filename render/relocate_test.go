package render_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/render"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

const lockFile = `apiVersion: sealift.dev/v1alpha1
kind: ImagesLock
images:
- {image: "nginx:1.25", digest: ` + d1 + `, mediaType: application/vnd.oci.image.index.v1+json, size: 100}
- {image: "ghcr.io/acme/api:2", digest: ` + d2 + `, mediaType: application/vnd.oci.image.manifest.v1+json, size: 100}
- {image: "registry.example/tools/busybox", digest: ` + d3 + `, mediaType: application/vnd.oci.image.manifest.v1+json, size: 100}
- {image: "registry.example/tools/dev:x", unresolved: true}
`

func workload(kind, apiVersion, name string, images ...string) string {
	var containers []string
	for i, img := range images {
		containers = append(containers, fmt.Sprintf("{name: c%d, image: %q}", i, img))
	}
	return fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata: {name: %s, namespace: apps}\nspec:\n  template:\n    spec:\n      initContainers: [%s]\n      containers: [%s]\n",
		apiVersion, kind, name, containers[0], strings.Join(containers[1:], ", "))
}

func imagesOf(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	uses, err := imagelock.Find(objs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range uses {
		out = append(out, u.Image)
	}
	return out
}

func mirrors(t *testing.T, rules ...imagelock.Mirror) imagelock.Mirrors {
	t.Helper()
	m, err := imagelock.NewMirrors(rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRelocateImages(t *testing.T) {
	root := writeTree(t, map[string]string{
		".sealift/images.yaml": lockFile,
		"app/deploy.yaml":      workload("Deployment", "apps/v1", "web", "registry.example/tools/busybox", "nginx:1.25", "ghcr.io/acme/api:2"),
		"app/job.yaml":         workload("Job", "batch/v1", "migrate", "docker.io/library/nginx:1.25", "ghcr.io/acme/api:2"),
	})
	var seen []render.Relocation
	opts := render.Options{Path: "app", Images: &render.ImageOptions{
		Mirrors:       mirrors(t, imagelock.Mirror{From: "docker.io", To: "mirror.internal:5000"}, imagelock.Mirror{From: "registry.example/tools", To: "mirror.internal:5000/tools"}),
		RequireLocked: true,
		OnRelocate:    func(r render.Relocation) { seen = append(seen, r) },
	}}
	objs, err := render.Render(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// Deployment: containers (nginx, api), then initContainers (busybox).
		"mirror.internal:5000/library/nginx@" + d1,
		"ghcr.io/acme/api@" + d2, // no rule: pinned at its own repository
		"mirror.internal:5000/tools/busybox@" + d3,
		// Job: containers (api), then initContainers: nginx written in its
		// long form finds the same entry.
		"ghcr.io/acme/api@" + d2,
		"mirror.internal:5000/library/nginx@" + d1,
	}
	if got := imagesOf(t, objs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("images after relocation:\n got %v\nwant %v", got, want)
	}
	if len(seen) != 5 || seen[0].Object != "Deployment.apps/apps/web" || seen[0].Field != "spec.template.spec.containers[0].image" ||
		seen[0].From != "nginx:1.25" || seen[0].Mirror != "mirror.internal:5000" || !seen[0].Pinned || seen[1].Mirror != "" || !seen[1].Pinned {
		t.Errorf("relocations reported: %+v", seen)
	}
}

func TestRelocateRefusesUnlockedImages(t *testing.T) {
	rules := mirrors(t, imagelock.Mirror{From: "docker.io", To: "mirror.internal:5000"})
	files := map[string]string{
		".sealift/images.yaml": lockFile,
		"a.yaml":               workload("Deployment", "apps/v1", "web", "nginx:1.25", "nginx:1.26"),
		"b.yaml":               workload("StatefulSet", "apps/v1", "db", "registry.example/tools/dev:x", "ghcr.io/acme/api:2"),
		"c.yaml":               workload("DaemonSet", "apps/v1", "agent", "nginx@"+d1, "ghcr.io/evil/miner:1", "ghcr.io/evil/miner@"+d2),
	}
	_, err := render.Render(context.Background(), writeTree(t, files), render.Options{Images: &render.ImageOptions{Mirrors: rules, RequireLocked: true}})
	var nl *render.ImagesNotLockedError
	if !errors.As(err, &nl) || !errors.Is(err, errdef.ErrImageNotLocked) || !errdef.IsTerminal(err) {
		t.Fatalf("Render = %v, want *ImagesNotLockedError (terminal)", err)
	}
	var got []string
	for _, u := range nl.Images {
		got = append(got, u.Object+" "+u.Image)
	}
	want := []string{
		"Deployment.apps/apps/web nginx:1.26",
		"StatefulSet.apps/apps/db registry.example/tools/dev:x", // recorded unresolved, no digest
		"DaemonSet.apps/apps/agent ghcr.io/evil/miner:1",
		"DaemonSet.apps/apps/agent ghcr.io/evil/miner@" + d2, // a locked digest, of another repository
		// nginx@d1 is accepted: the lock pins d1 for docker.io/library/nginx.
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("refused:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{"spec.template.spec.containers[0].image: nginx:1.26", "ghcr.io/evil/miner:1", "nobody signed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q:\n%v", s, err)
		}
	}

	// Without a lock, every image is refused, and the error says the lock is missing.
	delete(files, ".sealift/images.yaml")
	_, err = render.Render(context.Background(), writeTree(t, files), render.Options{Images: &render.ImageOptions{Mirrors: rules, RequireLocked: true}})
	if !errors.As(err, &nl) || !nl.NoLock || len(nl.Images) != 7 || !strings.Contains(err.Error(), "--images-lock") {
		t.Fatalf("Render without a lock = %v", err)
	}
}

func TestRelocateAuditKeepsTags(t *testing.T) {
	root := writeTree(t, map[string]string{
		"a.yaml": workload("Deployment", "apps/v1", "web", "busybox", "nginx:1.26", "quay.io/x/y:3"),
	})
	objs, err := render.Render(context.Background(), root, render.Options{Images: &render.ImageOptions{
		Mirrors: mirrors(t, imagelock.Mirror{From: "docker.io/library", To: "mirror.internal/hub"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "mirror.internal/hub/nginx:1.26 quay.io/x/y:3 mirror.internal/hub/busybox"
	if got := strings.Join(imagesOf(t, objs), " "); got != want {
		t.Errorf("images %q, want %q", got, want)
	}
}

func TestRelocateBadLock(t *testing.T) {
	for name, lock := range map[string]string{
		"malformed":   "apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages: [{image: NGINX}]\n",
		"wrong kind":  "apiVersion: v1\nkind: ConfigMap\n",
		"unknown key": "apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages: []\nsurprise: 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, map[string]string{".sealift/images.yaml": lock, "a.yaml": workload("Deployment", "apps/v1", "web", "busybox", "nginx:1.25")})
			_, err := render.Render(context.Background(), root, render.Options{Images: &render.ImageOptions{RequireLocked: true}})
			if !errors.Is(err, errdef.ErrInvalidManifest) || !strings.Contains(err.Error(), imagelock.Path) {
				t.Fatalf("Render = %v, want ErrInvalidManifest naming %s", err, imagelock.Path)
			}
		})
	}
	// Without Images, the lock is not read at all.
	root := writeTree(t, map[string]string{".sealift/images.yaml": "garbage", "a.yaml": cmA})
	if _, err := render.Render(context.Background(), root, render.Options{}); err != nil {
		t.Errorf("Render without Images read the lock: %v", err)
	}
}
