package fsutil_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/fsutil"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		size    int
		limit   int64
		wantErr error
	}{
		"under the limit": {size: 9, limit: 10},
		"at the limit":    {size: 10, limit: 10},
		"over the limit":  {size: 11, limit: 10, wantErr: errdef.ErrSizeExceedsLimit},
		"empty":           {size: 0, limit: 10},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			if err := os.WriteFile(path, []byte(strings.Repeat("x", tc.size)), 0o644); err != nil {
				t.Fatal(err)
			}
			data, err := fsutil.ReadFile(path, tc.limit)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want %v naming %s", err, tc.wantErr, path)
				}
				return
			}
			if err != nil || len(data) != tc.size {
				t.Fatalf("read %d bytes, %v; want %d", len(data), err, tc.size)
			}
		})
	}
	if _, err := fsutil.ReadFile(filepath.Join(dir, "absent"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

// Copy copies everything, and into a writer that has ReadFrom (an *os.File)
// as well as into one that does not.
func TestCopy(t *testing.T) {
	data := strings.Repeat("sealift ", 10_000) // several buffers' worth
	var b strings.Builder
	n, err := fsutil.Copy(&b, strings.NewReader(data))
	if err != nil || n != int64(len(data)) || b.String() != data {
		t.Fatalf("Copy to a builder: %d bytes, %v", n, err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	n, err = fsutil.Copy(f, strings.NewReader(data))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	got, rerr := os.ReadFile(f.Name())
	if err != nil || rerr != nil || n != int64(len(data)) || string(got) != data {
		t.Fatalf("Copy to a file: %d bytes, %v, %v", n, err, rerr)
	}
}
