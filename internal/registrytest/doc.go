// Package registrytest starts a real distribution registry in process on a
// loopback port for tests, with in-memory storage. Start gives a plain HTTP
// registry open to all; StartWith adds basic auth (htpasswd), TLS from a
// freshly generated CA (optionally demanding client certificates) and
// middleware in front of the registry, such as Faults.
package registrytest
