package pull

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestRetryPolicy(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := func(status int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	tests := map[string]struct {
		resp     *http.Response
		err      error
		retry    bool
		after    time.Duration
		hasAfter bool
	}{
		"429 seconds":         {resp: resp(429, "7"), retry: true, after: 7 * time.Second, hasAfter: true},
		"503 date":            {resp: resp(503, now.Add(3*time.Second).Format(http.TimeFormat)), retry: true, after: 3 * time.Second, hasAfter: true},
		"503 past date":       {resp: resp(503, now.Add(-time.Hour).Format(http.TimeFormat)), retry: true, after: 0, hasAfter: true},
		"429 huge":            {resp: resp(429, "86400"), retry: true, after: maxRetryAfter, hasAfter: true},
		"429 garbage":         {resp: resp(429, "soon"), retry: true},
		"500 ignores header":  {resp: resp(500, "5"), retry: true},
		"502":                 {resp: resp(502, ""), retry: true},
		"504":                 {resp: resp(504, ""), retry: true},
		"408":                 {resp: resp(408, ""), retry: true},
		"501":                 {resp: resp(501, "")},
		"401":                 {resp: resp(401, "")},
		"403":                 {resp: resp(403, "")},
		"404":                 {resp: resp(404, "")},
		"400":                 {resp: resp(400, "")},
		"connection reset":    {err: syscall.ECONNRESET, retry: true},
		"connection refused":  {err: syscall.ECONNREFUSED},
		"unexpected EOF":      {err: io.ErrUnexpectedEOF, retry: true},
		"other network error": {err: errors.New("tls: bad certificate")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := retryable(tc.resp, tc.err); got != tc.retry {
				t.Errorf("retryable = %v, want %v", got, tc.retry)
			}
			if tc.resp != nil {
				after, ok := retryAfter(tc.resp, now)
				if ok != tc.hasAfter || after != tc.after {
					t.Errorf("retryAfter = %v, %v; want %v, %v", after, ok, tc.after, tc.hasAfter)
				}
			}
			d, err := defaultRetryPolicy.Retry(0, tc.resp, tc.err)
			if err != nil || (d >= 0) != tc.retry {
				t.Errorf("Retry(0) = %v, %v", d, err)
			}
			if d, _ := defaultRetryPolicy.Retry(maxRetries, tc.resp, tc.err); d >= 0 {
				t.Errorf("Retry(%d) = %v, want no retry", maxRetries, d)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 40 {
		want := retryMaxWait
		if attempt < 16 {
			want = min(retryBaseWait<<attempt, retryMaxWait)
		}
		for range 20 {
			if d := backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}
