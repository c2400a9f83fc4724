// Package contenttest builds OCI content for tests: a map-backed fetcher
// that serves whatever it holds (so a test can hand out content that does
// not match its descriptor, as a hostile registry would), manifests and
// indexes over it, tar and gzip layers from entries of any type, and a
// reader of extracted trees. pull's and render's tests share it.
//
// Only tests may import it; internal/depcheck holds that rule.
package contenttest
