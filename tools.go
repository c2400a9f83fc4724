//go:build tools

// This file pins modules the project builds against before every package
// imports them, so `go mod tidy` keeps them.
package sealift

import (
	_ "github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/google/go-containerregistry/pkg/name"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/secure-systems-lab/go-securesystemslib/encrypted"
	_ "github.com/sigstore/cosign/v2/pkg/cosign"
	_ "github.com/sigstore/sigstore-go/pkg/verify"
	_ "github.com/sigstore/sigstore/pkg/cryptoutils"
	_ "github.com/sigstore/sigstore/pkg/signature"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	_ "k8s.io/client-go/dynamic"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "oras.land/oras-go/v2"
	_ "oras.land/oras-go/v2/content/oci"
	_ "oras.land/oras-go/v2/registry/remote"
	_ "oras.land/oras-go/v2/registry/remote/credentials"
	_ "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/yaml"
)
