package pull

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote/retry"
)

// Retry limits for one registry request. Together they bound a request that
// keeps failing to well under a minute plus what Retry-After asks for.
const (
	// maxRetries is how many times a transient failure is retried.
	maxRetries = 5
	// retryBaseWait is the first backoff; each retry doubles it.
	retryBaseWait = 250 * time.Millisecond
	// retryMaxWait caps one exponential backoff step.
	retryMaxWait = 8 * time.Second
	// maxRetryAfter caps how long a Retry-After header can make us wait: a
	// registry asking for more is treated as asking for this much.
	maxRetryAfter = 30 * time.Second
)

// defaultRetryPolicy retries transient failures: connection resets, timed-out
// connections, responses cut short, 408, 429, 500, 502, 503 and 504. A
// refused connection is not retried here: nothing listens, so the caller
// (the next mirror, the engine's own backoff) is better placed to wait. It waits with exponential backoff and jitter, or what Retry-After asks
// on 429 and 503 (capped at maxRetryAfter). Anything else, 401, 403 and 404
// among them, is returned at once. The transport stops waiting when the
// request's context ends.
var defaultRetryPolicy retry.Policy = retryPolicy{}

type retryPolicy struct{}

func (retryPolicy) Retry(attempt int, resp *http.Response, err error) (time.Duration, error) {
	if attempt >= maxRetries || !retryable(resp, err) {
		return -1, nil
	}
	if resp != nil {
		if d, ok := retryAfter(resp, time.Now()); ok {
			return d, nil
		}
	}
	return backoff(attempt), nil
}

// retryable reports whether a response or transport error is transient.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		var ne net.Error
		return (errors.As(err, &ne) && ne.Timeout()) ||
			errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter reads Retry-After (seconds or an HTTP date) on 429 and 503.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = max(at.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// backoff is retryBaseWait doubled per attempt, capped at retryMaxWait,
// with jitter drawn from its upper half so clients spread out.
func backoff(attempt int) time.Duration {
	d := retryMaxWait
	if attempt < 16 {
		d = min(retryBaseWait<<attempt, retryMaxWait)
	}
	half := d / 2
	return half + rand.N(half+1)
}
