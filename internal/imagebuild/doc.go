// Package imagebuild builds sealift's container images without a Docker
// engine: static binaries (CGO_ENABLED=0, -trimpath, no build ID) compiled
// by the Go toolchain for each platform, put on an empty base with a CA
// bundle, a passwd entry for the non-root user 65532 and a /tmp, and
// assembled with go-containerregistry into one OCI image index per image.
//
// The build is reproducible: from the same source tree, Go toolchain and
// Options the index digest is the same on every machine. Every tar entry has
// the mode, owner (0:0 unless stated) and time (Options.Created, which the
// Makefile takes from SOURCE_DATE_EPOCH, by default the commit time) fixed;
// entries are written in lexical order; gzip is the standard library's at a
// fixed level; the config's and the history's times are Options.Created; the
// CA bundle comes from a pinned Go module (golang.org/x/crypto/x509roots/
// fallback, Mozilla's NSS roots), not from the build machine.
//
// The package leaves signing and registry credentials to its caller
// (hack/image): it writes an OCI layout or pushes an index and returns its
// descriptor.
//
// # Limits and caveats
//
// The Go toolchain decides the binaries' bytes: another Go version gives
// other digests. Binaries are built with -buildvcs=false (a clone would be
// stamped with the commit and a git worktree or a source archive not), so
// their build info names no revision: the image's
// org.opencontainers.image.revision label does. The CA
// bundle holds only NSS roots without a distrust-after constraint, since a
// PEM file cannot carry one. Layers are held in memory while an index is
// built (a few tens of megabytes per platform).
package imagebuild
