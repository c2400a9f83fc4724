package pull_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/render"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	src := writeFiles(t, map[string]string{
		"app/deploy.yaml": "kind: Deployment\n", "app/svc.yaml": "kind: Service\n", "ns.yaml": "kind: Namespace\n",
	})
	ref, repo := reg.Repository(t, "team/app", "1.4.2")
	pushed, err := push.Push(ctx, src, repo, ref.Tag, push.Options{Revision: "main@sha1:1"})
	if err != nil {
		t.Fatal(err)
	}

	byDigest := ref
	byDigest.Tag, byDigest.Digest = "", pushed.Digest.String()
	both := ref
	both.Digest = pushed.Digest.String()
	for name, r := range map[string]pull.Reference{"tag": ref, "digest": byDigest, "tag and digest": both} {
		t.Run("resolve by "+name, func(t *testing.T) {
			desc, err := pull.Resolve(ctx, repo, r)
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != pushed.Digest || desc.Size != pushed.Size || desc.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("resolved %+v, pushed %+v", desc, pushed)
			}
		})
	}

	store := memory.New()
	for i := range 2 { // the second fetch finds everything in place
		if err := pull.Fetch(ctx, repo, pushed, store, pull.FetchOptions{}); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	if got, err := store.Resolve(ctx, pushed.Digest.String()); err != nil || got.Digest != pushed.Digest {
		t.Fatalf("store does not resolve the digest: %v %v", got, err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := render.Extract(ctx, store, pushed, dest, render.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dest)
	want := readTree(t, src)
	if len(got) != len(want) {
		t.Errorf("pulled %v, pushed %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// liar resolves every reference to desc.
type liar struct {
	oras.ReadOnlyTarget
	desc ocispec.Descriptor
}

func (l liar) Resolve(context.Context, string) (ocispec.Descriptor, error) { return l.desc, nil }

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	ref, _ := pull.ParseReference(reg.URL("team/app", "v1"))
	repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := push.Push(ctx, writeFiles(t, map[string]string{"a.yaml": "a"}), repo, "v1", push.Options{}); err != nil {
		t.Fatal(err)
	}
	manifest := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte("{}"))

	tests := map[string]struct {
		src     oras.ReadOnlyTarget
		ref     string
		wantErr error
	}{
		"unknown tag":      {repo, reg.URL("team/app", "nope"), errdef.ErrNotFound},
		"unknown digest":   {repo, reg.Repo("team/app") + "@" + testDigest, errdef.ErrNotFound},
		"unknown repo":     {repo, reg.URL("team/other", "v1"), errdef.ErrNotFound},
		"digest disagrees": {liar{repo, manifest}, reg.Repo("team/app") + "@" + testDigest, errdef.ErrDigestMismatch},
		"oversized": {liar{repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: testDigest, Size: limits.MaxManifestBytes + 1}},
			reg.URL("team/app", "v1"), errdef.ErrSizeExceedsLimit},
		"not a manifest": {liar{repo, content.NewDescriptorFromBytes(push.MediaTypeFluxContent, []byte("x"))},
			reg.URL("team/app", "v1"), errdef.ErrUnsupportedMediaType},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := pull.ParseReference(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			repo, err := pull.NewRepository(r, pull.RemoteOptions{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			src := tc.src
			if l, ok := src.(liar); ok {
				l.ReadOnlyTarget = repo
				src = l
			} else {
				src = repo
			}
			_, err = pull.Resolve(ctx, src, r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var pe *pull.Error
			if !errors.As(err, &pe) || pe.Op != "resolve" || pe.Ref != r.String() {
				t.Errorf("not a resolve *pull.Error for %s: %#v", r, err)
			}
		})
	}
}

func TestFetchGraphs(t *testing.T) {
	ctx := context.Background()
	t.Run("index with its manifest, subject not followed", func(t *testing.T) {
		b := blobs{}
		l := b.Add(pull.MediaTypeFluxContent, gz(t, tarball(t, reg("a", "1"))))
		m := b.Manifest(t, push.MediaTypeFluxConfig, l)
		// A referrer-style manifest whose subject is absent from the source.
		absent := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(`{"absent":true}`))
		withSubject := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			Config: b.Add(push.MediaTypeFluxConfig, []byte("{}")), Layers: []ocispec.Descriptor{l}, Subject: &absent,
		}
		data, _ := json.Marshal(withSubject)
		ms := b.Add(ocispec.MediaTypeImageManifest, data)
		idx := b.Index(t, m, ms)
		dst := memory.New()
		if err := pull.Fetch(ctx, b, idx, dst, pull.FetchOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []ocispec.Descriptor{idx, m, ms, l} {
			if ok, _ := dst.Exists(ctx, d); !ok {
				t.Errorf("%s not fetched", d.Digest)
			}
		}
		if ok, _ := dst.Exists(ctx, absent); ok {
			t.Error("subject was fetched")
		}
	})
}

func TestFetchRejects(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		build   func(t *testing.T, b blobs) ocispec.Descriptor
		wantErr error
		absent  func(b blobs) []ocispec.Descriptor
	}{
		"too many layers": {wantErr: errdef.ErrSizeExceedsLimit, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(pull.MediaTypeFluxContent, []byte("x"))
			layers := make([]ocispec.Descriptor, limits.MaxLayers+1)
			for i := range layers {
				layers[i] = l
			}
			return b.Manifest(t, push.MediaTypeFluxConfig, layers...)
		}},
		"layer over the cap": {wantErr: errdef.ErrSizeExceedsLimit, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(pull.MediaTypeFluxContent, []byte("x"))
			l.Size = limits.MaxLayerBytes + 1
			return b.Manifest(t, push.MediaTypeFluxConfig, l)
		}},
		"config over the metadata cap": {wantErr: errdef.ErrSizeExceedsLimit, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: ocispec.Descriptor{MediaType: push.MediaTypeFluxConfig, Digest: testDigest, Size: limits.MaxManifestBytes + 1},
				Layers: []ocispec.Descriptor{}}
			data, _ := json.Marshal(m)
			return b.Add(ocispec.MediaTypeImageManifest, data)
		}},
		"nested index": {wantErr: errdef.ErrUnsupportedMediaType, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(pull.MediaTypeFluxContent, []byte("x")))
			return b.Index(t, b.Index(t, m))
		}},
		"root is a blob": {wantErr: errdef.ErrUnsupportedMediaType, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			return b.Add(pull.MediaTypeFluxContent, []byte("x"))
		}},
		"tampered layer": {wantErr: errdef.ErrDigestMismatch,
			build: func(t *testing.T, b blobs) ocispec.Descriptor {
				l := b.Add(pull.MediaTypeFluxContent, []byte("good"))
				b[l.Digest] = []byte("evil")
				return b.Manifest(t, push.MediaTypeFluxConfig, l)
			},
		},
		"layer longer than its descriptor": {wantErr: errdef.ErrSizeMismatch, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			l := b.Add(pull.MediaTypeFluxContent, []byte("good"))
			b[l.Digest] = []byte("good and more")
			return b.Manifest(t, push.MediaTypeFluxConfig, l)
		}},
		"tampered manifest": {wantErr: errdef.ErrDigestMismatch, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(pull.MediaTypeFluxContent, []byte("x")))
			data := []byte(strings.Replace(string(b[m.Digest]), "schemaVersion", "schemaVersioN", 1))
			b[m.Digest] = data
			return m
		}},
		"media type confusion": {wantErr: errdef.ErrInvalidManifest, build: func(t *testing.T, b blobs) ocispec.Descriptor {
			m := b.Manifest(t, push.MediaTypeFluxConfig, b.Add(pull.MediaTypeFluxContent, []byte("x")))
			m.MediaType = ocispec.MediaTypeImageIndex
			return m
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := blobs{}
			root := tc.build(t, b)
			dst := memory.New()
			err := pull.Fetch(ctx, b, root, dst, pull.FetchOptions{})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var pe *pull.Error
			if !errors.As(err, &pe) || pe.Op != "fetch" || pe.Ref != root.Digest.String() {
				t.Errorf("not a fetch *pull.Error for %s: %#v", root.Digest, err)
			}
			if ok, _ := dst.Exists(ctx, root); ok {
				t.Error("the root reached the destination")
			}
			if _, err := dst.Resolve(ctx, root.Digest.String()); err == nil {
				t.Error("the destination was tagged")
			}
		})
	}
}

func TestNewRepositoryCredentials(t *testing.T) {
	ctx := context.Background()
	ref, _ := pull.ParseReference("registry.example.com/team/app:v1")
	cfg := filepath.Join(t.TempDir(), "config.json")
	authStr := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	if err := os.WriteFile(cfg, []byte(`{"auths":{"registry.example.com":{"auth":"`+authStr+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts    pull.RemoteOptions
		host    string
		want    auth.Credential
		wantErr bool
	}{
		"docker config":        {opts: pull.RemoteOptions{RegistryConfig: cfg}, host: "registry.example.com", want: auth.Credential{Username: "robot", Password: "s3cret"}},
		"config, other host":   {opts: pull.RemoteOptions{RegistryConfig: cfg}, host: "other.example.com", want: auth.EmptyCredential},
		"static":               {opts: pull.RemoteOptions{Username: "u", Password: "p", RegistryConfig: cfg}, host: "registry.example.com", want: auth.Credential{Username: "u", Password: "p"}},
		"static, other host":   {opts: pull.RemoteOptions{Username: "u", Password: "p"}, host: "other.example.com", want: auth.EmptyCredential},
		"missing config file":  {opts: pull.RemoteOptions{RegistryConfig: filepath.Join(t.TempDir(), "nope.json")}, wantErr: true},
		"default config, none": {opts: pull.RemoteOptions{}, host: "registry.example.com", want: auth.EmptyCredential},
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo, err := pull.NewRepository(ref, tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if repo.PlainHTTP || repo.MaxMetadataBytes != limits.MaxManifestBytes {
				t.Errorf("repository settings %v %d", repo.PlainHTTP, repo.MaxMetadataBytes)
			}
			client, ok := repo.Client.(*auth.Client)
			if !ok {
				t.Fatalf("client is %T", repo.Client)
			}
			got, err := client.Credential(ctx, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("credential %+v, want %+v", got, tc.want)
			}
		})
	}
}
