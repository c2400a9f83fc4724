package registry

import (
	"encoding/json"
	"net/http"
)

// ReadOnlyMessage is what a read-only registry answers to a push or delete.
const ReadOnlyMessage = "this registry is read-only (served with --read-only): pulls work, pushes and deletes are refused"

// readOnly refuses every request that could change content: anything but
// GET, HEAD and OPTIONS. The answer is 405 with the distribution API's
// UNSUPPORTED error code and a message naming the mode, so a client prints
// why instead of retrying or asking for other credentials.
func readOnly(next http.Handler) http.Handler {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{
		"code": "UNSUPPORTED", "message": ReadOnlyMessage,
	}}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write(body)
	})
}
