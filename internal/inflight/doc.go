// Package inflight bounds the HTTP requests a process keeps in flight to
// one server: a request holds a slot from the moment it is sent until its
// response body is read to the end or closed, so a streamed download counts
// as in flight for as long as it streams.
package inflight
