package cache

// Metrics receives the cache's counts, for the engine to export. The cache
// calls it from many goroutines at once, so implementations must be safe for
// concurrent use, and quick: it is called on the read path. Embed NopMetrics
// to implement only some of the methods.
type Metrics interface {
	// Hit counts a Fetch or Exists that found the blob in the cache.
	Hit()
	// Miss counts a Fetch or Exists that did not (a pull must fetch it).
	Miss()
	// BytesRead counts blob bytes handed out by Fetch's readers.
	BytesRead(n int64)
	// BytesWritten counts blob bytes stored by Push.
	BytesWritten(n int64)
	// Evicted counts a blob removed because it failed its integrity check.
	Evicted()
}

// NopMetrics discards every count; it is the default.
type NopMetrics struct{}

func (NopMetrics) Hit()               {}
func (NopMetrics) Miss()              {}
func (NopMetrics) BytesRead(int64)    {}
func (NopMetrics) BytesWritten(int64) {}
func (NopMetrics) Evicted()           {}
