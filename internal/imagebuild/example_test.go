package imagebuild_test

import (
	"fmt"
	"time"

	"github.com/sealift-dev/sealift/internal/imagebuild"
)

// A layer is the same bytes for the same files and time, whatever the order
// the files are given in.
func ExampleNewLayer() {
	created := time.Unix(1700000000, 0)
	a, _ := imagebuild.NewLayer([]imagebuild.File{
		{Path: "/etc", Dir: true, Mode: 0o755},
		{Path: "/etc/motd", Mode: 0o644, Data: []byte("hello\n")},
	}, created)
	b, _ := imagebuild.NewLayer([]imagebuild.File{
		{Path: "/etc/motd", Mode: 0o644, Data: []byte("hello\n")},
		{Path: "/etc", Dir: true, Mode: 0o755},
	}, created)
	da, _ := a.Digest()
	db, _ := b.Digest()
	fmt.Println(da == db)
	// Output:
	// true
}
