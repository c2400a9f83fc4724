// Package depcheck holds the import rules that keep the pipeline's shape:
// data flows forward push → pull → verify → cache → render → deploy, with
// reconcile the only orchestrator. Its test lists, for each fenced package,
// what it must not import (directly or through another package), as
// go-containerregistry fences its heavy packages; a change that breaks a
// rule fails `go test ./...` with the import chain to remove.
//
// It has no code of its own beyond the listing helper its test uses.
package depcheck
