package mirror

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/imagelock"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagetest"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/verify"
)

const sbomType = "application/spdx+json"

// upstream is a connected registry holding a release: artifacts whose
// images locks pin images on the same registry, everything signed.
type upstream struct {
	reg           *registrytest.Registry
	key, imageKey crypto.Signer
	web, multi    ocispec.Descriptor
	app, db1, db2 ocispec.Descriptor
	platforms     []ocispec.Descriptor
}

func deploymentOf(name string, images ...string) string {
	var cs []string
	for i, img := range images {
		cs = append(cs, fmt.Sprintf("{name: c%d, image: %q}", i, img))
	}
	return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  template:\n    spec:\n      containers: [%s]\n", name, strings.Join(cs, ", "))
}

// pushLocked pushes a one-Deployment artifact running images to
// reg/repo:tag with its images lock, signs it with key and returns it.
func pushLocked(t testing.TB, reg *registrytest.Registry, repo, tag string, key crypto.Signer, images ...string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(deploymentOf(strings.ReplaceAll(repo, "/", "-"), images...)), 0o644); err != nil {
		t.Fatal(err)
	}
	ref, r := reg.Repository(t, repo, tag)
	resolver := imagelock.RegistryResolver{PlainHTTP: []string{reg.Host}}
	opts := push.Options{ImagesLock: func(ctx context.Context, objs []*unstructured.Unstructured) (*imagelock.Lock, error) {
		uses, err := imagelock.Find(objs)
		if err != nil {
			return nil, err
		}
		return imagelock.Build(ctx, uses, resolver, imagelock.BuildOptions{})
	}}
	desc, err := push.Push(ctx, dir, r, tag, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := cosignfmt.SignLegacy(ctx, r, desc, ref.Repo(), key); err != nil {
		t.Fatal(err)
	}
	return desc
}

// attachSBOM pushes an SBOM referrer of subject to repo.
func attachSBOM(t *testing.T, repo oras.Target, subject ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	blob := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	layer := content.NewDescriptorFromBytes(sbomType, blob)
	empty := ocispec.DescriptorEmptyJSON
	for _, b := range []struct {
		d    ocispec.Descriptor
		data []byte
	}{{layer, blob}, {empty, empty.Data}} {
		if err := repo.Push(ctx, b.d, strings.NewReader(string(b.data))); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sbomType,
		Config: empty, Layers: []ocispec.Descriptor{layer}, Subject: &subject}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, data)
	desc.ArtifactType = sbomType
	if err := repo.Push(ctx, desc, strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	return desc
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ctx := context.Background()
	u := &upstream{reg: registrytest.Start(t), key: newKey(t), imageKey: newKey(t)}
	u.web = imagetest.Image(t, u.reg.Repo("library/web:1"), 2048)
	u.multi, u.platforms = imagetest.Index(t, u.reg.Repo("team/multi:2"), 1024)
	// The images carry their own vendor's signatures.
	for _, img := range []struct {
		repo string
		desc ocispec.Descriptor
	}{{"library/web", u.web}, {"team/multi", u.multi}} {
		ref, r := u.reg.Repository(t, img.repo, "x")
		if err := cosignfmt.SignLegacy(ctx, r, img.desc, ref.Repo(), u.imageKey); err != nil {
			t.Fatal(err)
		}
	}
	u.app = pushLocked(t, u.reg, "team/app", "1.0", u.key, u.reg.Repo("library/web:1"), u.reg.Repo("team/multi:2"))
	u.db1 = pushLocked(t, u.reg, "team/db", "2.0.0", u.key, u.reg.Repo("library/web:1"))
	u.db2 = pushLocked(t, u.reg, "team/db", "2.1.0", u.key, u.reg.Repo("library/web:1"))
	_, appRepo := u.reg.Repository(t, "team/app", "1.0")
	attachSBOM(t, appRepo, u.app)
	return u
}

func (u *upstream) opts(keys ...crypto.Signer) Options {
	o := plainHTTP
	if len(keys) > 0 {
		p := policy(keys...)
		o.Policy = &p
	}
	return o
}

// checkImageAt checks that host holds image desc at path, every manifest
// of an index too, and that its vendor's signature verifies there.
func checkImageAt(t *testing.T, host *registrytest.Registry, path string, desc ocispec.Descriptor, children []ocispec.Descriptor, key crypto.Signer) {
	t.Helper()
	ctx := context.Background()
	_, repo := host.Repository(t, path, "x")
	got, err := repo.Resolve(ctx, desc.Digest.String())
	if err != nil || got.Digest != desc.Digest || got.MediaType != desc.MediaType {
		t.Fatalf("%s at %s: %+v, %v; want %s", path, host.Host, got, err, desc.Digest)
	}
	for _, c := range children {
		if _, err := repo.Resolve(ctx, c.Digest.String()); err != nil {
			t.Errorf("platform manifest %s of %s missing at %s: %v", c.Digest, path, host.Host, err)
		}
	}
	if v, err := verify.Verify(ctx, repo, desc, policy(key)); err != nil || !v.Verified {
		t.Errorf("the signature of %s does not verify at %s: %+v, %v", path, host.Host, v, err)
	}
}

func TestMirrorWithImages(t *testing.T) {
	ctx := context.Background()
	u := newUpstream(t)
	mir := registrytest.Start(t)
	opts := u.opts(u.key)
	opts.WithImages = true
	var items []string
	opts.OnItem = func(kind, name string) { items = append(items, kind) }
	res := mirrorOK(t, u.reg.URL("team/app", "1.0"), "oci://"+mir.Repo("mirror/app"), opts)
	if res.Digest != u.app.Digest.String() || res.OtherReferrers != 1 || len(res.Images) != 2 {
		t.Fatalf("result %+v", res)
	}
	// Images land on the destination's host at their own path.
	byImage := map[string]ImageResult{}
	for _, r := range res.Images {
		byImage[r.Image] = r
	}
	web, multi := byImage[u.reg.Repo("library/web:1")], byImage[u.reg.Repo("team/multi:2")]
	if web.Destination != mir.Repo("library/web")+"@"+u.web.Digest.String() || web.Signatures != 1 {
		t.Errorf("web image result %+v", web)
	}
	if multi.Destination != mir.Repo("team/multi")+"@"+u.multi.Digest.String() || multi.Platforms != 2 || multi.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("multi image result %+v", multi)
	}
	checkImageAt(t, mir, "library/web", u.web, nil, u.imageKey)
	checkImageAt(t, mir, "team/multi", u.multi, u.platforms, u.imageKey)
	// The tag the manifests wrote is set too.
	if _, repo := mir.Repository(t, "library/web", "1"); true {
		if got, err := repo.Resolve(ctx, "1"); err != nil || got.Digest != u.web.Digest {
			t.Errorf("library/web:1 at the mirror: %v, %v", got.Digest, err)
		}
	}
	if strings.Join(items, " ") != "image image artifact" {
		t.Errorf("items reported %v", items)
	}

	// Through a tar and into another registry, images from the tar.
	tarFile := filepath.Join(t.TempDir(), "app.tar")
	mirrorOK(t, u.reg.URL("team/app", "1.0"), "tar:"+tarFile, opts)
	site := registrytest.Start(t)
	res = mirrorOK(t, "tar:"+tarFile, "oci://"+site.Repo("team/app"), opts)
	if len(res.Images) != 2 || res.Images[0].Source != "tar:"+tarFile {
		t.Fatalf("tar -> registry images %+v", res.Images)
	}
	checkImageAt(t, site, "team/multi", u.multi, u.platforms, u.imageKey)
	checkImageAt(t, site, "library/web", u.web, nil, u.imageKey)

	// Without --with-images, a tar with images still mirrors its one artifact.
	plain := mirrorOK(t, "tar:"+tarFile, "oci://"+registrytest.Start(t).Repo("team/app"), u.opts())
	if plain.Tag != "1.0" || len(plain.Images) != 0 {
		t.Errorf("tar with images, mirrored without: %+v", plain)
	}
}

func TestMirrorReferrerTypes(t *testing.T) {
	u := newUpstream(t)
	opts := u.opts()
	opts.ReferrerTypes = []string{"application/vnd.example.other"}
	res := mirrorOK(t, u.reg.URL("team/app", "1.0"), "oci://"+registrytest.Start(t).Repo("team/app"), opts)
	if res.OtherReferrers != 0 || res.Signatures != 1 {
		t.Errorf("filtered: %+v, want the SBOM left behind and the signature carried", res)
	}
	opts.ReferrerTypes = []string{sbomType}
	dst := registrytest.Start(t)
	res = mirrorOK(t, u.reg.URL("team/app", "1.0"), "oci://"+dst.Repo("team/app"), opts)
	if res.OtherReferrers != 1 {
		t.Errorf("asked for SBOMs: %+v", res)
	}
	_, repo := dst.Repository(t, "team/app", "1.0")
	list, err := cosignfmt.ListReferrers(context.Background(), repo, u.app, sbomType, func(ocispec.Descriptor) bool { return true }, 10)
	if err != nil || len(list) != 1 {
		t.Errorf("SBOM referrers at the destination: %v, %v", list, err)
	}
}

func releaseList(u *upstream) *List {
	return &List{APIVersion: ListAPIVersion, Kind: ListKind, Artifacts: []ListEntry{
		{Repository: "oci://" + u.reg.Repo("team/app"), Tag: "1.0", Images: true},
		{Repository: u.reg.Repo("team/db"), Semver: "~2"},
	}}
}

func TestMirrorListThroughTar(t *testing.T) {
	ctx := context.Background()
	u := newUpstream(t)
	opts := u.opts(u.key)
	tarFile := filepath.Join(t.TempDir(), "release.tar")
	dst, err := ParseDestination("tar:" + tarFile)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := MirrorList(ctx, releaseList(u), dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Artifacts) != 2 || tr.Artifacts[1].Tag != "2.1.0" || tr.Artifacts[1].Digest != u.db2.Digest.String() || len(tr.Images) != 2 {
		t.Fatalf("transfer %+v", tr)
	}
	if tr.Artifacts[0].Verdict == nil || !tr.Artifacts[0].Verdict.Verified {
		t.Errorf("verdict at the source %+v", tr.Artifacts[0].Verdict)
	}

	// The tar says what it holds.
	src, err := ParseLocation("tar:" + tarFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSource(ctx, src, plainHTTP)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ReleaseEntries(s.index)
	s.close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Kind+" "+e.Name)
	}
	want := []string{
		"artifact team/app:1.0", "artifact team/db:2.1.0",
		"image library/web@" + u.web.Digest.String(), "image team/multi@" + u.multi.Digest.String(),
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("release entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}

	// The far side: tar -> registry, under a prefix.
	site := registrytest.Start(t)
	far, err := ParseDestination("oci://" + site.Host + "/edge")
	if err != nil {
		t.Fatal(err)
	}
	tr, err = MirrorRelease(ctx, src, far, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Artifacts) != 2 || len(tr.Images) != 2 || tr.Artifacts[0].Destination != "oci://"+site.Repo("edge/team/app") {
		t.Fatalf("release -> registry %+v", tr)
	}
	for _, a := range []struct {
		repo, tag string
		desc      ocispec.Descriptor
	}{{"edge/team/app", "1.0", u.app}, {"edge/team/db", "2.1.0", u.db2}} {
		ref, repo := site.Repository(t, a.repo, a.tag)
		got, err := pull.Resolve(ctx, repo, ref)
		if err != nil || got.Digest != a.desc.Digest {
			t.Fatalf("%s:%s at the site: %v, %v", a.repo, a.tag, got.Digest, err)
		}
		if v, err := verify.Verify(ctx, repo, a.desc, policy(u.key)); err != nil || !v.Verified {
			t.Errorf("%s does not verify at the site: %v", a.repo, err)
		}
	}
	checkImageAt(t, site, "edge/library/web", u.web, nil, u.imageKey)
	checkImageAt(t, site, "edge/team/multi", u.multi, u.platforms, u.imageKey)

	// A policy the release does not satisfy writes nothing.
	other := registrytest.Start(t)
	_, err = MirrorRelease(ctx, src, Location{Kind: KindRegistry, Ref: pull.Reference{Registry: other.Host}}, u.opts(newKey(t)))
	if !errors.Is(err, errdef.ErrSignatureInvalid) {
		t.Fatalf("release with a stranger's key: %v, want ErrSignatureInvalid", err)
	}
	ref, repo := other.Repository(t, "team/app", "1.0")
	if _, err := pull.Resolve(ctx, repo, ref); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a refused release left %s: %v", ref, err)
	}
}

// TestMirrorListResumes interrupts a copy into a registry and runs it
// again: the second run finishes, and blobs the first one landed are not
// uploaded again.
func TestMirrorListResumes(t *testing.T) {
	ctx := context.Background()
	u := newUpstream(t)
	var uploads atomic.Int64
	var failAt atomic.Int64
	failAt.Store(6)
	faults := registrytest.NewFaults(func(r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/blobs/uploads") {
			return false
		}
		return uploads.Add(1) == failAt.Load()
	}, registrytest.Fault{Status: http.StatusBadRequest})
	access := &registrytest.Access{}
	site := registrytest.StartWith(t, registrytest.Options{Wrap: func(h http.Handler) http.Handler { return faults.Wrap(access.Wrap(h)) }})
	dst, _ := ParseDestination("oci://" + site.Host)
	if _, err := MirrorList(ctx, releaseList(u), dst, u.opts()); err == nil {
		t.Fatal("the interrupted transfer succeeded")
	}
	first := countUploads(access.Requests())
	access.Reset()
	tr, err := MirrorList(ctx, releaseList(u), dst, u.opts())
	if err != nil {
		t.Fatalf("the second run: %v", err)
	}
	second := countUploads(access.Requests())
	total := first + second - 1 // the refused upload landed nothing
	t.Logf("uploads: %d before the interruption, %d after", first, second)
	if first < 2 || second >= total {
		t.Errorf("uploads: %d before the interruption, %d after; the second run should skip what the first landed", first, second)
	}
	if len(tr.Artifacts) != 2 {
		t.Fatalf("transfer %+v", tr)
	}
	checkImageAt(t, site, "library/web", u.web, nil, u.imageKey)
	checkImageAt(t, site, "team/multi", u.multi, u.platforms, u.imageKey)
}

func countUploads(reqs []registrytest.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodPost && strings.Contains(r.Path, "/blobs/uploads") {
			n++
		}
	}
	return n
}
