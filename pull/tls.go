package pull

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
)

// maxTLSClients caps the HTTP clients kept for distinct TLS settings, so a
// long-running engine reuses connections per registry setting without
// growing without bound when settings churn.
const maxTLSClients = 64

var tlsClients = struct {
	sync.Mutex
	m map[[sha256.Size]byte]*http.Client
}{m: map[[sha256.Size]byte]*http.Client{}}

// errTLSConfig marks unusable TLS options; the message says which.
var errTLSConfig = errors.New("tls options")

// clientFor returns the HTTP client for opts: the shared one without TLS
// material, otherwise one per distinct CA and client certificate.
func clientFor(opts RemoteOptions) (*http.Client, error) {
	if !opts.hasTLS() {
		return httpClient, nil
	}
	if opts.PlainHTTP {
		return nil, fmt.Errorf("%w: plain HTTP cannot use a CA or client certificate", errTLSConfig)
	}
	ca, cert, key, err := loadTLSMaterial(opts)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, b := range [][]byte{ca, cert, key} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var id [sha256.Size]byte
	copy(id[:], h.Sum(nil))

	tlsClients.Lock()
	defer tlsClients.Unlock()
	if c, ok := tlsClients.m[id]; ok {
		return c, nil
	}
	cfg, err := buildTLSConfig(ca, cert, key)
	if err != nil {
		return nil, err
	}
	c := newHTTPClient(cfg)
	if len(tlsClients.m) >= maxTLSClients {
		clear(tlsClients.m)
	}
	tlsClients.m[id] = c
	return c, nil
}

// loadTLSMaterial reads the PEM inputs of opts.
func loadTLSMaterial(opts RemoteOptions) (ca, cert, key []byte, err error) {
	if opts.CAFile != "" {
		if ca, err = os.ReadFile(opts.CAFile); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: CA file: %w", errTLSConfig, err)
		}
	}
	ca = append(ca, '\n')
	ca = append(ca, opts.CAData...)
	files := opts.CertFile != "" || opts.KeyFile != ""
	data := len(opts.CertData) > 0 || len(opts.KeyData) > 0
	switch {
	case files && data:
		return nil, nil, nil, fmt.Errorf("%w: a client certificate from files and from data", errTLSConfig)
	case files:
		if opts.CertFile == "" || opts.KeyFile == "" {
			return nil, nil, nil, fmt.Errorf("%w: a client certificate needs both a certificate and a key file", errTLSConfig)
		}
		if cert, err = os.ReadFile(opts.CertFile); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: client certificate: %w", errTLSConfig, err)
		}
		if key, err = os.ReadFile(opts.KeyFile); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: client key: %w", errTLSConfig, err)
		}
	case data:
		cert, key = opts.CertData, opts.KeyData
	}
	return ca, cert, key, nil
}

// buildTLSConfig trusts the system roots plus ca and presents cert/key.
// Verification stays on: there is no option to skip it.
func buildTLSConfig(ca, cert, key []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(ca) > 1 { // more than the separator loadTLSMaterial adds
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%w: the CA bundle holds no PEM certificate", errTLSConfig)
		}
		cfg.RootCAs = pool
	}
	if len(cert) > 0 || len(key) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %w", errTLSConfig, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
