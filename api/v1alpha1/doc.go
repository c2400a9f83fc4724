// Package v1alpha1 owns the Sync API (group sealift.dev, version v1alpha1):
// the types, their constants (condition types, reasons, drift, verify and
// adopt modes), defaulting (Default), validation (Validate) and reading a
// Sync file (Parse, LoadFile). The CRD in config/crd and the deep-copy
// functions are generated from the markers here by `make generate`.
//
// It imports no pipeline package (push, pull, verify, cache, deploy,
// reconcile) and nothing of sigstore: turning a Sync into options for those
// stages is reconcile's job, so the API can be vendored by a controller or
// a client without the engine.
//
// # Limits and caveats
//
// A Sync file is read up to MaxSyncFileBytes; unknown fields and more than
// one document are refused. Validate refuses what the schema refuses (more
// than one of tag, semver and digest, a malformed digest or tag, a URL that
// is not oci://, unknown enum values, negative durations) and what the
// schema cannot check (a semver constraint that does not parse, a filter
// that does not compile). A Sync without ref uses the URL's own tag or
// digest (else "latest"); a ref that is present must set exactly one of
// tag, semver and digest. Interval, RetryInterval and DependsOn are read by the
// in-cluster controller only; `sealift sync --once` ignores them and says
// so, and refuses to apply a suspended Sync.
//
// +kubebuilder:object:generate=true
// +groupName=sealift.dev
package v1alpha1
