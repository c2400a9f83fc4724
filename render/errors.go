package render

import "fmt"

// Error is a failed extraction of one artifact.
type Error struct {
	// Op is the operation: "extract".
	Op string
	// Ref names the artifact: its manifest digest.
	Ref string
	// Err is the cause; it wraps an errdef sentinel where one applies.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
