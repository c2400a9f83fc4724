package pull_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/registrytest"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// pushTo pushes a small artifact to reg as team/app:v1 with opts and
// returns its reference and descriptor.
func pushTo(t *testing.T, reg *registrytest.Registry, opts pull.RemoteOptions) (pull.Reference, ocispec.Descriptor) {
	t.Helper()
	ref, err := pull.ParseReference(reg.URL("team/app", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := writeFiles(t, map[string]string{"cm.yaml": "kind: ConfigMap\n"})
	desc, err := push.Push(context.Background(), src, repo, ref.Tag, push.Options{})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return ref, desc
}

// pullWith resolves and fetches ref with opts.
func pullWith(ref pull.Reference, opts pull.RemoteOptions) error {
	ctx := context.Background()
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		return err
	}
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	return pull.Fetch(ctx, repo, desc, memory.New(), pull.FetchOptions{})
}

func TestRemoteAuth(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no ambient credentials
	reg := registrytest.StartWith(t, registrytest.Options{Users: map[string]string{"robot": "s3cret"}})
	good := pull.RemoteOptions{PlainHTTP: true, RegistryConfig: reg.DockerConfig(t, "robot", "s3cret")}
	ref, _ := pushTo(t, reg, good)

	tests := map[string]struct {
		opts pull.RemoteOptions
		want error
	}{
		"docker config":      {opts: good},
		"static credentials": {opts: pull.RemoteOptions{PlainHTTP: true, Username: "robot", Password: "s3cret"}},
		"anonymous":          {opts: pull.RemoteOptions{PlainHTTP: true}, want: errdef.ErrUnauthorized},
		"wrong password":     {opts: pull.RemoteOptions{PlainHTTP: true, Username: "robot", Password: "guess"}, want: errdef.ErrUnauthorized},
		"config for other user": {
			opts: pull.RemoteOptions{PlainHTTP: true, RegistryConfig: reg.DockerConfig(t, "eve", "s3cret")},
			want: errdef.ErrUnauthorized,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := pullWith(ref, tc.opts)
			if tc.want == nil && err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRemoteTLS(t *testing.T) {
	reg := registrytest.StartWith(t, registrytest.Options{TLS: true})
	ref, _ := pushTo(t, reg, pull.RemoteOptions{CAFile: reg.CAFile})
	caPEM, err := os.ReadFile(reg.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	mtls := registrytest.StartWith(t, registrytest.Options{TLS: true, ClientCerts: true})
	client := pull.RemoteOptions{CAFile: mtls.CAFile, CertFile: mtls.ClientCertFile, KeyFile: mtls.ClientKeyFile}
	mref, _ := pushTo(t, mtls, client)
	certPEM, _ := os.ReadFile(mtls.ClientCertFile)
	keyPEM, _ := os.ReadFile(mtls.ClientKeyFile)
	mcaPEM, _ := os.ReadFile(mtls.CAFile)

	tests := map[string]struct {
		ref     pull.Reference
		opts    pull.RemoteOptions
		wantErr string
	}{
		"CA file":                 {ref: ref, opts: pull.RemoteOptions{CAFile: reg.CAFile}},
		"CA data":                 {ref: ref, opts: pull.RemoteOptions{CAData: caPEM}},
		"system roots only":       {ref: ref, wantErr: "certificate"},
		"other CA":                {ref: ref, opts: pull.RemoteOptions{CAFile: mtls.CAFile}, wantErr: "certificate"},
		"plain HTTP to TLS":       {ref: ref, opts: pull.RemoteOptions{PlainHTTP: true}, wantErr: "400"},
		"plain HTTP and CA":       {ref: ref, opts: pull.RemoteOptions{PlainHTTP: true, CAFile: reg.CAFile}, wantErr: "plain HTTP"},
		"missing CA file":         {ref: ref, opts: pull.RemoteOptions{CAFile: reg.CAFile + ".nope"}, wantErr: "CA file"},
		"CA file not PEM":         {ref: ref, opts: pull.RemoteOptions{CAFile: "remote_test.go"}, wantErr: "no PEM"},
		"client certificate":      {ref: mref, opts: client},
		"client certificate data": {ref: mref, opts: pull.RemoteOptions{CAData: mcaPEM, CertData: certPEM, KeyData: keyPEM}},
		"no client certificate":   {ref: mref, opts: pull.RemoteOptions{CAFile: mtls.CAFile}, wantErr: "certificate"},
		"certificate without key": {ref: mref, opts: pull.RemoteOptions{CAFile: mtls.CAFile, CertFile: mtls.ClientCertFile}, wantErr: "both"},
		"files and data":          {ref: mref, opts: pull.RemoteOptions{CertFile: mtls.ClientCertFile, KeyFile: mtls.ClientKeyFile, CertData: certPEM, KeyData: keyPEM}, wantErr: "files and from data"},
		"key mismatch":            {ref: mref, opts: pull.RemoteOptions{CAFile: mtls.CAFile, CertFile: mtls.ClientCertFile, KeyFile: mtls.CAFile}, wantErr: "client certificate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := pullWith(tc.ref, tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// manifestRequests matches manifest reads, where Resolve and Fetch start.
func manifestRequests(r *http.Request) bool {
	return (r.Method == http.MethodHead || r.Method == http.MethodGet) && strings.Contains(r.URL.Path, "/manifests/")
}

func TestRemoteRetries(t *testing.T) {
	tests := map[string]struct {
		faults []registrytest.Fault
		// dated builds the faults when they are injected, for a Retry-After
		// date that must still lie ahead when the registry serves it.
		dated    func() []registrytest.Fault
		want     error // nil: the pull succeeds after the faults
		requests int   // matching requests the registry saw
		minGap   time.Duration
	}{
		"429 with Retry-After, 503, reset": {
			faults:   []registrytest.Fault{{Status: 429, RetryAfter: "1"}, {Status: 503}, {Status: 0}},
			requests: 4 + 1, // three faults, the resolve, then the fetch
			minGap:   time.Second,
		},
		"503 with Retry-After date": {
			// An HTTP date has one-second resolution: 4 s ahead at injection
			// leaves well over the 1 s asked for, even on a loaded machine.
			dated: func() []registrytest.Fault {
				return []registrytest.Fault{{Status: 503, RetryAfter: time.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat)}}
			},
			requests: 2 + 1,
			minGap:   time.Second,
		},
		"403 is final": {faults: []registrytest.Fault{{Status: 403}}, want: errdef.ErrUnauthorized, requests: 1},
		"404 is final": {faults: []registrytest.Fault{{Status: 404}}, want: errdef.ErrNotFound, requests: 1},
		"400 is final": {faults: []registrytest.Fault{{Status: 400}}, requests: 1, want: errAny},
		"retries bounded": {
			faults:   repeat(registrytest.Fault{Status: 503, RetryAfter: "0"}, 10),
			want:     errAny,
			requests: 6, // the first try and five retries
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := registrytest.NewFaults(manifestRequests)
			reg := registrytest.StartWith(t, registrytest.Options{Wrap: f.Wrap})
			ref, _ := pushTo(t, reg, pull.RemoteOptions{PlainHTTP: true})
			faults := tc.faults
			if tc.dated != nil {
				faults = tc.dated()
			}
			f.Inject(faults...)
			err := pullWith(ref, pull.RemoteOptions{PlainHTTP: true})
			switch {
			case tc.want == nil && err != nil:
				t.Fatal(err)
			case tc.want == errAny && err == nil:
				t.Fatal("pull succeeded")
			case tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			arrivals := f.Arrivals()
			if len(arrivals) != tc.requests {
				t.Errorf("registry saw %d manifest requests, want %d", len(arrivals), tc.requests)
			}
			if tc.minGap > 0 && len(arrivals) > 1 {
				if gap := arrivals[1].Sub(arrivals[0]); gap < tc.minGap {
					t.Errorf("retried after %v, Retry-After asked for %v", gap, tc.minGap)
				}
			}
		})
	}
}

// errAny stands for "some error" in a table.
var errAny = errors.New("any error")

func repeat(f registrytest.Fault, n int) []registrytest.Fault {
	out := make([]registrytest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func TestResolveWithoutHead(t *testing.T) {
	for _, status := range []int{http.StatusMethodNotAllowed, http.StatusNotImplemented} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			heads := func(r *http.Request) bool {
				return r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/")
			}
			f := registrytest.NewFaults(heads)
			reg := registrytest.StartWith(t, registrytest.Options{Wrap: f.Wrap})
			ref, pushed := pushTo(t, reg, pull.RemoteOptions{PlainHTTP: true})
			f.Inject(registrytest.Fault{Status: status})
			repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			desc, err := pull.Resolve(context.Background(), repo, ref)
			if err != nil || desc.Digest != pushed.Digest || desc.Size != pushed.Size {
				t.Fatalf("Resolve = %+v, %v; want %s", desc, err, pushed.Digest)
			}
			if f.Pending() != 0 {
				t.Error("HEAD was not tried first")
			}
		})
	}
}
