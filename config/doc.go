// Package config holds sealift's in-cluster install as kustomize
// directories (crd, rbac, manager, the default base and the lockdown
// overlay), embedded so that `sealift install` works without the
// repository, and renders them with an image set (Render) as
// `kustomize build` would an overlay that sets the image.
//
// The package renders only: applying, waiting and removing are the CLI's
// (cmd/sealift install.go and check.go), through the deploy package.
//
// # Limits and caveats
//
// The manifests name the image "sealift" (ImageName); an install without
// an image set would run nothing. Render trusts its input (the embedded
// files): it builds with kustomize's load restrictions and without
// plugins, but with no size or time bound.
package config
