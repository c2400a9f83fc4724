package pull

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/sealift-dev/sealift/internal/limits"
)

// UserAgent is sent with every registry request.
const UserAgent = "sealift"

const (
	// dialTimeout bounds connecting to a registry; a registry that cannot
	// accept a TCP connection in this time is treated as down and retried.
	dialTimeout = 30 * time.Second
	// responseHeaderTimeout bounds the wait for a response once a request is
	// sent, so a stalled registry fails instead of hanging the reconcile.
	responseHeaderTimeout = 2 * time.Minute
)

// RemoteOptions configures access to a registry. The zero value means HTTPS
// verified against the system roots, with credentials from the default
// docker config and its credential helpers. Certificate verification is
// never turned off: a registry with a private CA needs CAFile or CAData.
type RemoteOptions struct {
	// PlainHTTP talks HTTP instead of HTTPS (loopback registries, tests). It
	// cannot be combined with the TLS options below.
	PlainHTTP bool
	// Username and Password are static credentials for CredentialsHost
	// only; every other host is answered from the docker config.
	Username, Password string
	// CredentialsHost is the registry (host[:port]) Username and Password
	// were given for. Empty binds them to the registry of the repository
	// NewRepository builds; NewReplicas binds them to the canonical
	// repository's registry, so mirrors and other registries never see them.
	CredentialsHost string
	// RegistryConfig is the path of a docker config.json. Empty means
	// $DOCKER_CONFIG/config.json or ~/.docker/config.json, when they exist.
	RegistryConfig string
	// CAFile is a PEM bundle of certificate authorities trusted in addition
	// to the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// registries that demand one. Both or neither.
	CertFile, KeyFile string
	// CAData, CertData and KeyData are the same in memory, e.g. from a
	// Kubernetes secret; CAData adds to CAFile, and a certificate comes from
	// the files or from the data, not both.
	CAData, CertData, KeyData []byte
}

// hasTLS reports whether opts carry any TLS material.
func (o RemoteOptions) hasTLS() bool {
	return o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" ||
		len(o.CAData) > 0 || len(o.CertData) > 0 || len(o.KeyData) > 0
}

// httpClient is shared by every repository without TLS options so
// connections are reused. Its retry policy is retryPolicy.
var httpClient = newHTTPClient(nil)

func newHTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Transport: &retry.Transport{
		Base:   gatedTransport{base: newBaseTransport(tlsConfig)},
		Policy: func() retry.Policy { return defaultRetryPolicy },
	}}
}

func newBaseTransport(tlsConfig *tls.Config) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = responseHeaderTimeout
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig
	}
	return t
}

// NewRepository returns a client for ref's repository, authenticated with
// opts and bounded by limits.MaxManifestBytes for manifests.
func NewRepository(ref Reference, opts RemoteOptions) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Repo())
	if err != nil {
		return nil, classify(fmt.Errorf("repository %s: %w", ref.Repo(), err))
	}
	cred, err := credentialFunc(ref.Registry, opts)
	if err != nil {
		return nil, err
	}
	hc, err := clientFor(opts)
	if err != nil {
		return nil, err
	}
	client := &auth.Client{
		Client:     hc,
		Cache:      auth.NewCache(),
		Credential: cred,
	}
	client.SetUserAgent(UserAgent)
	repo.Client = client
	repo.PlainHTTP = opts.PlainHTTP
	repo.MaxMetadataBytes = limits.MaxManifestBytes
	return repo, nil
}

// WithPlainHTTP returns o for one repository reached over plain HTTP or
// not: its TLS material is dropped where there is no TLS.
func (o RemoteOptions) WithPlainHTTP(plain bool) RemoteOptions {
	o.PlainHTTP = plain
	if plain {
		o.CAFile, o.CertFile, o.KeyFile = "", "", ""
		o.CAData, o.CertData, o.KeyData = nil, nil, nil
	}
	return o
}

// BindCredentials returns o with its static credentials bound to host,
// unless they are bound already. Call it with the registry the credentials
// were given for before building repositories on other registries.
func (o RemoteOptions) BindCredentials(host string) RemoteOptions {
	if o.CredentialsHost == "" {
		o.CredentialsHost = host
	}
	return o
}

// credentialFunc answers registry's challenges: with the static credentials
// when they were given for it, else from the docker config store.
func credentialFunc(registry string, opts RemoteOptions) (auth.CredentialFunc, error) {
	if opts.Username != "" || opts.Password != "" {
		host := opts.CredentialsHost
		if host == "" {
			host = registry
		}
		if host == registry {
			return auth.StaticCredential(host, auth.Credential{Username: opts.Username, Password: opts.Password}), nil
		}
	}
	path := opts.RegistryConfig
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("registry config: %w", err)
		}
	} else {
		path = defaultDockerConfig()
		if path == "" {
			// No home and no DOCKER_CONFIG (a bare container): anonymous.
			return func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil }, nil
		}
	}
	store, err := credentials.NewStore(path, credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	return credentials.Credential(store), nil
}

// defaultDockerConfig returns where the docker CLI keeps its config, or ""
// when that cannot be determined.
func defaultDockerConfig() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}
