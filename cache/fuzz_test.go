package cache_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/cache"
	"github.com/sealift-dev/sealift/errdef"
)

// FuzzFetchDamagedBlob damages a cached blob file in arbitrary ways and
// checks that a read either returns exactly the stored content or fails as
// corrupt: damaged content is never returned whole.
func FuzzFetchDamagedBlob(f *testing.F) {
	f.Add([]byte("rendered manifests"), uint16(3), byte(0x01), uint8(0))
	f.Add([]byte("rendered manifests"), uint16(0), byte(0), uint8(1))
	f.Add([]byte("x"), uint16(9), byte(0xff), uint8(2))
	f.Add([]byte{}, uint16(0), byte('a'), uint8(2))
	f.Add(bytes.Repeat([]byte{0}, 70000), uint16(65535), byte(0x80), uint8(0))
	f.Add([]byte("unchanged"), uint16(0), byte(0), uint8(3))

	dir := f.TempDir()
	c := open(f, dir, cache.Options{})
	f.Fuzz(func(t *testing.T, data []byte, at uint16, b byte, mode uint8) {
		ctx := context.Background()
		desc := content.NewDescriptorFromBytes(fluxContentType, data)
		if err := c.Push(ctx, desc, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		path := blobFile(dir, desc)
		damaged := bytes.Clone(data)
		switch mode % 4 {
		case 0: // flip bits
			if len(damaged) > 0 {
				damaged[int(at)%len(damaged)] ^= b
			}
		case 1: // truncate
			if len(damaged) > 0 {
				damaged = damaged[:int(at)%len(damaged)]
			}
		case 2: // append
			damaged = append(damaged, b)
		case 3: // leave alone
		}
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := content.FetchAll(ctx, c, desc)
		if err == nil {
			if !bytes.Equal(got, data) {
				t.Fatalf("fetch returned %q; stored %q", got, data)
			}
			if !bytes.Equal(damaged, data) {
				t.Fatal("fetch accepted a damaged file")
			}
			return
		}
		if !errors.Is(err, errdef.ErrCorrupt) {
			t.Fatalf("fetch damaged blob: %v; want ErrCorrupt", err)
		}
		if ok, _ := c.Exists(ctx, desc); ok {
			t.Fatal("corrupt blob not evicted")
		}
	})
}
