package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	sealiftv1 "github.com/sealift-dev/sealift/api/v1alpha1"
	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/reconcile"
)

// imageApp writes a Namespace and a Deployment in it running web (a
// container) and init (an init container).
func imageApp(t *testing.T, ns, web, init string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"namespace.yaml": fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns),
		"web.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: %q}]
      containers: [{name: web, image: %q}]
`, ns, init, web),
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// publishLocked pushes dir with an images lock resolved at up (when lock
// is true) and signs it with key.
func publishLocked(t *testing.T, reg, up *registrytest.Registry, repoName, tag, dir string, lock bool, key keyPair) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	ref, repo := reg.Repository(t, repoName, tag)
	var opts push.Options
	if lock {
		resolver := imagelock.RegistryResolver{PlainHTTP: []string{up.Host}}
		opts.ImagesLock = func(ctx context.Context, objs []*unstructured.Unstructured) (*imagelock.Lock, error) {
			uses, err := imagelock.Find(objs)
			if err != nil {
				return nil, err
			}
			return imagelock.Build(ctx, uses, resolver, imagelock.BuildOptions{})
		}
	}
	desc, err := push.Push(ctx, dir, repo, tag, opts)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := cosignfmt.SignLegacy(ctx, repo, desc, ref.Repo(), key.Signer); err != nil {
		t.Fatal(err)
	}
	return desc
}

// copyImage copies the image (or index) desc from repoPath at src to the
// same path at dst, as a mirror of it would hold it.
func copyImage(t *testing.T, src, dst *registrytest.Registry, repoPath string, desc ocispec.Descriptor) {
	t.Helper()
	_, from := src.Repository(t, repoPath, "x")
	_, to := dst.Repository(t, repoPath, "x")
	if err := pull.Fetch(context.Background(), from, desc, to, pull.FetchOptions{}); err != nil {
		t.Fatalf("copy %s: %v", repoPath, err)
	}
}

func withMirror(s *sealiftv1.Sync, from, to string) *sealiftv1.Sync {
	s.Spec.Images = &sealiftv1.Images{Mirrors: []sealiftv1.ImageMirror{{From: from, To: to, Insecure: true}}}
	return s
}

func deploymentImages(t *testing.T, ns string) (containers, inits string) {
	t.Helper()
	d, err := clientset(t).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.Spec.InitContainers[0].Image
}

func TestReconcileRelocatesImagesByDigest(t *testing.T) {
	ctx := context.Background()
	reg, up, mir := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	web := imagetest.Image(t, up.Repo("library/web:1"), 256)
	multi, _ := imagetest.Index(t, up.Repo("team/multi:2"), 128)
	key := newKeyPair(t)
	dir := imageApp(t, "relocated", up.Repo("library/web:1"), up.Repo("team/multi:2"), nil)
	publishLocked(t, reg, up, "apps/relocated", "1", dir, true, key)

	s := withMirror(newSync("relocated", "oci://"+reg.Repo("apps/relocated"), "1", key), up.Host, mir.Host)
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}

	// Preflight: neither image is in the mirror yet; both are named, and
	// nothing is applied.
	_, err := r.Reconcile(ctx, s)
	if !errors.Is(err, errdef.ErrNotFound) || errdef.IsTerminal(err) || reconcile.ReasonOf(err) != sealiftv1.ReasonImagesUnavailable {
		t.Fatalf("reconcile with an empty mirror = %v (reason %s), want a retryable ImagesUnavailable", err, reconcile.ReasonOf(err))
	}
	for _, want := range []string{mir.Host + "/library/web@" + web.Digest.String(), mir.Host + "/team/multi@" + multi.Digest.String(), "Deployment.apps/relocated/web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("preflight error does not name %s:\n%v", want, err)
		}
	}
	if _, err := clientset(t).CoreV1().Namespaces().Get(ctx, "relocated", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after a failed preflight: %v; want nothing applied", err)
	}

	// Once the mirror holds them, the Deployment runs them from the mirror, by digest.
	copyImage(t, up, mir, "library/web", web)
	copyImage(t, up, mir, "team/multi", multi)
	res, err := r.Reconcile(ctx, s)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	containers, inits := deploymentImages(t, "relocated")
	if want := mir.Host + "/library/web@" + web.Digest.String(); containers != want {
		t.Errorf("applied container image %s, want %s", containers, want)
	}
	if want := mir.Host + "/team/multi@" + multi.Digest.String(); inits != want {
		t.Errorf("applied init container image %s, want the index %s", inits, want)
	}
	if len(res.Images) != 2 || res.Images[0].From != up.Repo("library/web:1") || res.Images[0].Mirror != mir.Host || !res.Images[0].Pinned {
		t.Errorf("outcome images %+v", res.Images)
	}
}

func TestReconcileRefusesImagesNotLocked(t *testing.T) {
	ctx := context.Background()
	reg, up, mir := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	web := imagetest.Image(t, up.Repo("library/web:1"), 64)
	extra := imagetest.Image(t, up.Repo("library/extra:1"), 64)
	copyImage(t, up, mir, "library/web", web)
	copyImage(t, up, mir, "library/extra", extra)
	if _, repo := mir.Repository(t, "library/extra", "1"); repo.Tag(ctx, extra, "1") != nil {
		t.Fatal("tag the mirrored extra image")
	}
	key := newKeyPair(t)
	// The lock pins web; the manifests also run extra, which it does not.
	lock := fmt.Sprintf("apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages:\n- {image: %q, digest: %s, mediaType: %s, size: %d}\n",
		up.Repo("library/web:1"), web.Digest, web.MediaType, web.Size)
	dir := imageApp(t, "unlocked", up.Repo("library/web:1"), up.Repo("library/extra:1"), map[string]string{".sealift/images.yaml": lock})
	publishLocked(t, reg, up, "apps/unlocked", "1", dir, false, key)

	s := withMirror(newSync("unlocked", "oci://"+reg.Repo("apps/unlocked"), "1", key), up.Host, mir.Host)
	r := &reconcile.Engine{Cache: openCache(t), RestConfig: env.Config}
	_, err := r.Reconcile(ctx, s)
	if !errors.Is(err, errdef.ErrImageNotLocked) || !errdef.IsTerminal(err) || reconcile.ReasonOf(err) != sealiftv1.ReasonVerificationFailed {
		t.Fatalf("reconcile = %v (reason %s), want a terminal ErrImageNotLocked", err, reconcile.ReasonOf(err))
	}
	for _, want := range []string{"Deployment.apps/unlocked/web", "spec.template.spec.initContainers[0].image", up.Repo("library/extra:1")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if _, err := clientset(t).CoreV1().Namespaces().Get(ctx, "unlocked", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after the refusal: %v; want nothing applied", err)
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, sealiftv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled condition %+v, want True", c)
	}

	// Audit mode applies it: the locked image pinned, the other moved with its tag.
	s.Spec.Verify.Mode = sealiftv1.VerifyAudit
	if _, err := r.Reconcile(ctx, s); err != nil {
		t.Fatalf("reconcile in audit mode: %v", err)
	}
	containers, inits := deploymentImages(t, "unlocked")
	if containers != mir.Host+"/library/web@"+web.Digest.String() || inits != mir.Host+"/library/extra:1" {
		t.Errorf("audit applied %s and %s", containers, inits)
	}
}
