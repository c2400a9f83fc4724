// Package object holds the checks every Kubernetes object sealift renders
// or applies must pass: the fields an apply needs (apiVersion, kind,
// metadata.name, a valid namespace) and one object per group, kind,
// namespace and name. Render runs them on what an artifact holds; deploy
// runs them again on what it is handed.
package object
