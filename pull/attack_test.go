package pull_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// pushTree pushes files to reg's team/app under tag with opts.
func pushTree(t *testing.T, reg *registrytest.Registry, tag string, files map[string]string, opts pull.RemoteOptions) ocispec.Descriptor {
	t.Helper()
	repo, err := pull.NewRepository(pull.Reference{Registry: reg.Host, Repository: "team/app"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := push.Push(context.Background(), writeFiles(t, files), repo, tag, push.Options{})
	if err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	return desc
}

// TestAttackCredsSentToMirror: --creds given for the canonical registry
// must never reach a mirror (or a signature repository on another host); the
// mirror is answered from its own docker-config entry.
func TestAttackCredsSentToMirror(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no ambient credentials
	ctx := context.Background()
	canonical := registrytest.StartWith(t, registrytest.Options{Users: map[string]string{"alice": "canonical-secret"}})
	var seen registrytest.Access
	mirror := registrytest.StartWith(t, registrytest.Options{Users: map[string]string{"bob": "mirror-secret"}, Wrap: seen.Wrap})

	files := map[string]string{"cm.yaml": "kind: ConfigMap\n"}
	desc := pushTree(t, canonical, "v1", files, pull.RemoteOptions{PlainHTTP: true, Username: "alice", Password: "canonical-secret"})
	if got := pushTree(t, mirror, "v1", files, pull.RemoteOptions{PlainHTTP: true, Username: "bob", Password: "mirror-secret"}); got.Digest != desc.Digest {
		t.Fatalf("mirror digest %s != canonical %s", got.Digest, desc.Digest)
	}
	seen.Reset()

	// --creds for the canonical registry, a docker config for the mirror.
	opts := pull.RemoteOptions{Username: "alice", Password: "canonical-secret", RegistryConfig: mirror.DockerConfig(t, "bob", "mirror-secret")}
	sources, err := pull.NewReplicas(
		pull.Endpoint{URL: canonical.Repo("team/app"), PlainHTTP: true},
		[]pull.Endpoint{{URL: mirror.Repo("team/app"), PlainHTTP: true}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ref := pull.Reference{Tag: "v1"}
	res, err := pull.ResolveFrom(ctx, sources, ref, pull.ResolveOptions{})
	if err != nil || res.Descriptor.Digest != desc.Digest {
		t.Fatalf("resolve: %+v, %v", res, err)
	}
	served, err := pull.FetchFrom(ctx, sources, desc, memory.New(), pull.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if served != mirror.Repo("team/app") {
		t.Errorf("served by %s, want the mirror with its own credentials", served)
	}

	// A signature repository on the mirror's host, built with the options
	// bound to the canonical registry, as reconcile and the CLI build it.
	sigRepo, err := pull.NewRepository(pull.Reference{Registry: mirror.Host, Repository: "team/signatures"}, opts.BindCredentials(canonical.Host).WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sigRepo.Resolve(ctx, "sha256-"+desc.Digest.Encoded()+".sig")

	leaked := base64.StdEncoding.EncodeToString([]byte("alice:canonical-secret"))
	own := base64.StdEncoding.EncodeToString([]byte("bob:mirror-secret"))
	reqs := seen.Requests()
	if len(reqs) == 0 {
		t.Fatal("the mirror saw no requests")
	}
	usedOwn := false
	for _, r := range reqs {
		if strings.Contains(r.Authorization, leaked) {
			t.Fatalf("the mirror received the canonical registry's credentials: %s %s", r.Method, r.Path)
		}
		usedOwn = usedOwn || strings.Contains(r.Authorization, own)
	}
	if !usedOwn {
		t.Error("the mirror never received its own docker-config credentials")
	}
}

// TestAttackMirrorRollsBackTag: a mirror that maps a tag to an older signed
// digest must not decide what the tag means while the canonical registry
// answers; when only the mirror answers, the result says so.
func TestAttackMirrorRollsBackTag(t *testing.T) {
	ctx := context.Background()
	canonical := registrytest.Start(t)
	mirror := registrytest.Start(t)
	plain := pull.RemoteOptions{PlainHTTP: true}
	old := pushTree(t, mirror, "v1", map[string]string{"cm.yaml": "version: old\n"}, plain)
	pushTree(t, mirror, "only-at-mirror", map[string]string{"cm.yaml": "version: old\n"}, plain)
	current := pushTree(t, canonical, "v1", map[string]string{"cm.yaml": "version: new\n"}, plain)

	sources, err := newSources(mirror, canonical)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pull.ResolveFrom(ctx, sources, pull.Reference{Tag: "v1"}, pull.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Descriptor.Digest != current.Digest || got.AtMirror || got.Replica != canonical.Repo("team/app") {
		t.Fatalf("tag resolved to %s at %s (mirror %v), want the canonical %s", got.Descriptor.Digest, got.Replica, got.AtMirror, current.Digest)
	}
	// The canonical registry's "no such tag" is final too.
	if _, err := pull.ResolveFrom(ctx, sources, pull.Reference{Tag: "only-at-mirror"}, pull.ResolveOptions{}); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("tag only the mirror has: err = %v, want ErrNotFound from the canonical registry", err)
	}
	// Air-gapped: only the mirror answers, and the result says so.
	canonical.Close()
	got, err = pull.ResolveFrom(ctx, sources, pull.Reference{Tag: "v1"}, pull.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Descriptor.Digest != old.Digest || !got.AtMirror || got.Replica != mirror.Repo("team/app") {
		t.Errorf("canonical down: %+v, want the mirror's answer marked AtMirror", got)
	}
	// A digest is resolved wherever it is, and is never "at a mirror".
	got, err = pull.ResolveFrom(ctx, sources, pull.Reference{Digest: old.Digest.String()}, pull.ResolveOptions{})
	if err != nil || got.AtMirror {
		t.Errorf("by digest: %+v, %v", got, err)
	}
}

// TestAttackMirrorRollsBackSemver: a mirror holding only older releases
// cannot pick the range's version while the canonical registry answers,
// and never below the floor (the version last applied) when it alone does.
func TestAttackMirrorRollsBackSemver(t *testing.T) {
	ctx := context.Background()
	canonical := registrytest.Start(t)
	stale := registrytest.Start(t)
	fresh := registrytest.Start(t)
	plain := pull.RemoteOptions{PlainHTTP: true}
	want := map[string]ocispec.Descriptor{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		files := map[string]string{"cm.yaml": "version: " + v + "\n"}
		want[v] = pushTree(t, canonical, v, files, plain)
		pushTree(t, fresh, v, files, plain)
	}
	pushTree(t, stale, "1.0.0", map[string]string{"cm.yaml": "version: 1.0.0\n"}, plain)

	sources, err := newSources(stale, fresh, canonical)
	if err != nil {
		t.Fatal(err)
	}
	rng := pull.ResolveOptions{Semver: "^1"}
	got, err := pull.ResolveFrom(ctx, sources, pull.Reference{}, rng)
	if err != nil || got.Tag != "1.1.0" || got.Descriptor.Digest != want["1.1.0"].Digest || got.AtMirror {
		t.Fatalf("canonical up: %+v, %v; want 1.1.0 from the canonical registry", got, err)
	}
	// The canonical registry itself is held to the floor.
	if _, err := pull.ResolveFrom(ctx, sources, pull.Reference{}, pull.ResolveOptions{Semver: "^1", Floor: "1.2.0"}); !errors.Is(err, errdef.ErrRollback) {
		t.Errorf("canonical below the floor: err = %v, want ErrRollback", err)
	}

	canonical.Close()
	floor := pull.ResolveOptions{Semver: "^1", Floor: "1.1.0"}
	got, err = pull.ResolveFrom(ctx, sources, pull.Reference{}, floor)
	if err != nil || got.Tag != "1.1.0" || !got.AtMirror || got.Replica != fresh.Repo("team/app") {
		t.Fatalf("stale mirror first: %+v, %v; want 1.1.0 from the fresh mirror", got, err)
	}
	onlyStale, err := newSources(stale, canonical)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := pull.ResolveFrom(ctx, onlyStale, pull.Reference{}, floor); !errors.Is(err, errdef.ErrRollback) {
		t.Errorf("only a stale mirror: %+v, err = %v, want ErrRollback", got, err)
	}
	if _, err := pull.ResolveFrom(ctx, onlyStale, pull.Reference{Tag: "1.0.0"}, floor); !errors.Is(err, errdef.ErrInvalidReference) {
		t.Errorf("semver with a tag: err = %v, want ErrInvalidReference", err)
	}
}

// TestAttackInsecureSpreadsToMirrors: plain HTTP for the canonical
// repository must not make a mirror plain HTTP too, where anyone on the path
// could answer for it; a mirror is plain only when it says so itself.
func TestAttackInsecureSpreadsToMirrors(t *testing.T) {
	ctx := context.Background()
	plain := pull.RemoteOptions{PlainHTTP: true}
	canonical := registrytest.Start(t)
	desc := pushTree(t, canonical, "v1", map[string]string{"cm.yaml": "kind: ConfigMap\n"}, plain)

	var plainSeen registrytest.Access
	plainMirror := registrytest.StartWith(t, registrytest.Options{Wrap: plainSeen.Wrap})
	pushTree(t, plainMirror, "v1", map[string]string{"cm.yaml": "kind: ConfigMap\n"}, plain)
	var tlsSeen registrytest.Access
	tlsMirror := registrytest.StartWith(t, registrytest.Options{TLS: true, Wrap: tlsSeen.Wrap})
	pushTree(t, tlsMirror, "v1", map[string]string{"cm.yaml": "kind: ConfigMap\n"}, pull.RemoteOptions{CAFile: tlsMirror.CAFile})

	tests := map[string]struct {
		mirror     *registrytest.Registry
		seen       *registrytest.Access
		insecure   bool
		wantServed *registrytest.Registry
		wantPlain  int // requests the mirror got over plain HTTP
	}{
		"HTTPS mirror next to a plain canonical": {mirror: tlsMirror, seen: &tlsSeen, wantServed: tlsMirror},
		"mirror not marked insecure":             {mirror: plainMirror, seen: &plainSeen, wantServed: canonical},
		"mirror marked insecure":                 {mirror: plainMirror, seen: &plainSeen, insecure: true, wantServed: plainMirror, wantPlain: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.seen.Reset()
			sources, err := pull.NewReplicas(
				pull.Endpoint{URL: canonical.Repo("team/app"), PlainHTTP: true},
				[]pull.Endpoint{{URL: tc.mirror.Repo("team/app"), PlainHTTP: tc.insecure}},
				pull.RemoteOptions{CAFile: tlsMirror.CAFile})
			if err != nil {
				t.Fatal(err)
			}
			served, err := pull.FetchFrom(ctx, sources, desc, memory.New(), pull.FetchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if served != tc.wantServed.Repo("team/app") {
				t.Errorf("served by %s, want %s", served, tc.wantServed.Repo("team/app"))
			}
			plainReqs := 0
			for _, r := range tc.seen.Requests() {
				if !r.TLS {
					plainReqs++
				}
			}
			if tc.wantPlain == 0 && plainReqs > 0 {
				t.Errorf("the mirror got %d requests over plain HTTP", plainReqs)
			}
			if tc.wantPlain < 0 && plainReqs == 0 {
				t.Error("the insecure mirror was not used over plain HTTP")
			}
		})
	}
}

// TestAttackFetchFillsDisk: an artifact whose blobs add up to more than the
// fetch cap is refused from its descriptors, before any layer is
// downloaded or written.
func TestAttackFetchFillsDisk(t *testing.T) {
	ctx := context.Background()
	var seen registrytest.Access
	reg := registrytest.StartWith(t, registrytest.Options{Wrap: seen.Wrap})
	repo, err := pull.NewRepository(pull.Reference{Registry: reg.Host, Repository: "team/big"}, pull.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	const layerSize = 64 << 10
	pushLayers := func(n int) (ocispec.Descriptor, []ocispec.Descriptor) {
		layers := make([]ocispec.Descriptor, n)
		for i := range layers {
			data := make([]byte, layerSize)
			_, _ = rand.Read(data)
			layers[i] = content.NewDescriptorFromBytes(push.MediaTypeFluxContent, data)
			if err := repo.Push(ctx, layers[i], bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		m, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{Layers: layers})
		if err != nil {
			t.Fatal(err)
		}
		return m, layers
	}
	three, threeLayers := pushLayers(3)
	one, _ := pushLayers(1)
	other, _ := pushLayers(1)
	idx := indexOf(t, repo, one, other)

	tests := map[string]struct {
		root     ocispec.Descriptor
		maxBytes int64
		wantErr  error
		noLayers []ocispec.Descriptor // never requested, never stored
	}{
		"layers over the cap":            {root: three, maxBytes: 100 << 10, wantErr: errdef.ErrSizeExceedsLimit, noLayers: threeLayers},
		"index over the cap":             {root: idx, maxBytes: layerSize + 8<<10, wantErr: errdef.ErrSizeExceedsLimit},
		"under the cap":                  {root: three, maxBytes: 4 * layerSize},
		"default cap holds small things": {root: idx},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			seen.Reset()
			dst := memory.New()
			err := pull.Fetch(ctx, repo, tc.root, dst, pull.FetchOptions{MaxBytes: tc.maxBytes})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !errdef.IsTerminal(err) {
				t.Errorf("err = %v is not terminal", err)
			}
			for _, l := range tc.noLayers {
				if ok, _ := dst.Exists(ctx, l); ok {
					t.Errorf("layer %s was written", l.Digest)
				}
				for _, r := range seen.Requests() {
					if r.Method == http.MethodGet && strings.HasSuffix(r.Path, l.Digest.String()) {
						t.Errorf("layer %s was downloaded", l.Digest)
					}
				}
			}
		})
	}
}

// indexOf pushes an OCI index of manifests to repo.
func indexOf(t *testing.T, repo oras.Target, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	b := blobs{}
	d := b.Index(t, manifests...)
	if err := repo.Push(context.Background(), d, bytes.NewReader(b[d.Digest])); err != nil {
		t.Fatal(err)
	}
	return d
}
