// Command sealift pushes, pulls, verifies and applies signed OCI artifacts of
// Kubernetes manifests. See `sealift -h`.
package main
