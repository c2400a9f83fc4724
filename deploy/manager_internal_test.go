package deploy

import (
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

func TestClientRateLimit(t *testing.T) {
	limiter := flowcontrol.NewFakeAlwaysRateLimiter()
	tests := map[string]struct {
		in          rest.Config
		wantQPS     float32
		wantBurst   int
		wantLimiter bool
	}{
		"unset, as a kubeconfig leaves it: off": {in: rest.Config{}, wantQPS: -1},
		"unset with a burst: off":               {in: rest.Config{Burst: 300}, wantQPS: -1, wantBurst: 300},
		"off already: off":                      {in: rest.Config{QPS: -1}, wantQPS: -1},
		"chosen by the caller: kept":            {in: rest.Config{QPS: 20, Burst: 40}, wantQPS: 20, wantBurst: 40},
		"a rate limiter of the caller's: kept":  {in: rest.Config{RateLimiter: limiter}, wantQPS: 0, wantLimiter: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := tc.in
			NoClientRateLimit(&cfg)
			if cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst || (cfg.RateLimiter != nil) != tc.wantLimiter {
				t.Errorf("QPS %v, burst %d, rate limiter %v; want %v, %d, %v", cfg.QPS, cfg.Burst, cfg.RateLimiter != nil, tc.wantQPS, tc.wantBurst, tc.wantLimiter)
			}
		})
	}
}
