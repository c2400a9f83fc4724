// Package limits names the hard limits sealift applies to untrusted input.
// Each is a default; callers may lower or raise it through the option that
// carries it, never disable it.
package limits
