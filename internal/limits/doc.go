// Package limits names the hard limits sealift applies to untrusted input.
// Each is a default; where an option carries it (its comment names the
// option, or says that none does), callers may lower or raise it, never
// disable it.
package limits
