package render_test

import "github.com/sealift-dev/sealift/internal/contenttest"

// The shared content builders, under the short names these tests use.
type (
	blobs = contenttest.Blobs
	file  = contenttest.File
)

var (
	dir      = contenttest.Dir
	reg      = contenttest.Reg
	big      = contenttest.Big
	tarball  = contenttest.Tarball
	gz       = contenttest.Gz
	readTree = contenttest.ReadTree
)
