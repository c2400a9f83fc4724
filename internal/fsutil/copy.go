package fsutil

import (
	"io"
	"sync"
)

// copyBufferSize is the size of the pooled copy buffers, io.Copy's own.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// Copy copies src to dst through a pooled buffer. Archives of many small
// files are copied one file at a time, and io.Copy (or an *os.File's
// ReadFrom) would allocate a fresh buffer for each.
func Copy(dst io.Writer, src io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// Hide dst's ReadFrom so the pooled buffer is the one used.
	return io.CopyBuffer(writerOnly{dst}, src, *buf)
}

// writerOnly exposes only a writer's Write.
type writerOnly struct{ io.Writer }
