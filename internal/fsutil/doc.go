// Package fsutil reads small local files (keys, trust roots, Sync files,
// manifests) with a size cap, checked while reading so a file that grows
// after it was opened cannot slip past it, and copies files into and out of
// archives through pooled buffers.
package fsutil
