package controller

import (
	"net/http"

	"k8s.io/client-go/rest"

	"github.com/sealift-dev/sealift/internal/inflight"
)

// limitAPI returns a copy of cfg whose requests share one bound of n in
// flight, however many Syncs reconcile and however many apply managers
// (one per service account) are built from it: each apply keeps up to its
// own concurrency in flight, and without a shared bound the API server
// would see workers × that. Watches are exempt: they live as long as the
// controller and would hold their slots forever.
func limitAPI(cfg *rest.Config, n int) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	limit := inflight.New(n)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return limit.Transport(rt, isWatch)
	})
	return cfg
}

func isWatch(req *http.Request) bool {
	switch req.URL.Query().Get("watch") {
	case "true", "1":
		return true
	}
	return false
}
