package fsutil

import (
	"fmt"
	"io"
	"os"

	"github.com/sealift-dev/sealift/errdef"
)

// ReadLimited reads r to its end, refusing more than limit bytes with an
// error wrapping errdef.ErrSizeExceedsLimit.
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errdef.ErrSizeExceedsLimit, limit)
	}
	return data, nil
}

// ReadFile reads the file at path, refusing one of more than limit bytes;
// errors name the path.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := ReadLimited(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
