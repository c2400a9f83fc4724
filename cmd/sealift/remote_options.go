package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/sealift-dev/sealift/pull"
)

// remoteOptions is the flag group for talking to a registry; commands that
// reach a registry embed it.
type remoteOptions struct {
	// Insecure talks plain HTTP to the registry.
	Insecure bool
	// Creds is "user:pass"; empty means the docker config.
	Creds string
	// RegistryConfig is a docker config.json path; empty means the default.
	RegistryConfig string
	// CAFile adds a PEM CA bundle to the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key.
	CertFile, KeyFile string
}

func (o *remoteOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Insecure, "insecure", false, "use plain HTTP to reach the registry (loopback and test registries)")
	fs.StringVar(&o.Creds, "creds", "", "credentials as USER:PASSWORD for the registry named on the command line (or a Sync's url) only; other registries use the docker config (default: the docker config and its credential helpers)")
	fs.StringVar(&o.RegistryConfig, "registry-config", "", "path of a docker config.json holding registry credentials (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM bundle of certificate authorities to trust besides the system roots")
	fs.StringVar(&o.CertFile, "cert-file", "", "PEM client certificate for registries that require one (with --key-file)")
	fs.StringVar(&o.KeyFile, "key-file", "", "PEM private key of --cert-file")
}

func (o *remoteOptions) validate() error {
	if o.Creds != "" {
		user, _, ok := strings.Cut(o.Creds, ":")
		if !ok || user == "" {
			return withHint(fmt.Errorf("--creds must be USER:PASSWORD"), "pass --creds user:password, or log in with docker login and drop --creds")
		}
		if o.RegistryConfig != "" {
			return withHint(fmt.Errorf("--creds and --registry-config are exclusive"), "keep one source of credentials")
		}
	}
	if o.Insecure && (o.CAFile != "" || o.CertFile != "" || o.KeyFile != "") {
		return withHint(fmt.Errorf("--insecure (plain HTTP) cannot use --ca-file, --cert-file or --key-file"), "drop --insecure to talk HTTPS with these certificates")
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return withHint(fmt.Errorf("--cert-file and --key-file go together"), "pass both the client certificate and its key")
	}
	return nil
}

func (o *remoteOptions) pullOptions() pull.RemoteOptions {
	user, pass, _ := strings.Cut(o.Creds, ":")
	return pull.RemoteOptions{
		PlainHTTP:      o.Insecure,
		Username:       user,
		Password:       pass,
		RegistryConfig: o.RegistryConfig,
		CAFile:         o.CAFile,
		CertFile:       o.CertFile,
		KeyFile:        o.KeyFile,
	}
}

// repository returns a client for ref's repository with these options.
func (o *remoteOptions) repository(ref pull.Reference) (*remote.Repository, error) {
	return o.repositoryWith(ref, o.pullOptions())
}

// repositoryWith returns a client for ref's repository with opts, derived
// from these options.
func (o *remoteOptions) repositoryWith(ref pull.Reference, opts pull.RemoteOptions) (*remote.Repository, error) {
	repo, err := pull.NewRepository(ref, opts)
	if err != nil {
		return nil, withHint(err, "check --creds, --registry-config, --ca-file, --cert-file and --key-file")
	}
	return repo, nil
}
