package pull

import (
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

func TestByteBudget(t *testing.T) {
	a := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte("aaaa"))
	b := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, []byte("bbbb"))
	tests := map[string]struct {
		limit    int64
		announce []ocispec.Descriptor
		read     []int
		wantErr  error
	}{
		"within":                     {limit: 8, announce: []ocispec.Descriptor{a, b}, read: []int{4, 4}},
		"a digest counts once":       {limit: 4, announce: []ocispec.Descriptor{a, a, a}},
		"announced over the limit":   {limit: 7, announce: []ocispec.Descriptor{a, b}, wantErr: errdef.ErrSizeExceedsLimit},
		"streamed over the limit":    {limit: 7, read: []int{4, 4}, wantErr: errdef.ErrSizeExceedsLimit},
		"zero means the named limit": {announce: []ocispec.Descriptor{{Digest: a.Digest, Size: limits.MaxFetchBytes + 1}}, wantErr: errdef.ErrSizeExceedsLimit},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			bb := newByteBudget(tc.limit, 0)
			err := bb.announce(tc.announce...)
			for _, n := range tc.read {
				if err == nil {
					err = bb.consume(n)
				}
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
