package deploy

import "testing"

func TestSubset(t *testing.T) {
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{"equal maps", map[string]any{"k": "v"}, map[string]any{"k": "v"}, true},
		{"extra live fields", map[string]any{"k": "v"}, map[string]any{"k": "v", "x": "y"}, true},
		{"missing field", map[string]any{"k": "v"}, map[string]any{"x": "y"}, false},
		{"changed value", map[string]any{"k": "v"}, map[string]any{"k": "w"}, false},
		{"int and float", map[string]any{"n": int64(3)}, map[string]any{"n": float64(3)}, true},
		{"number and string", map[string]any{"n": int64(3)}, map[string]any{"n": "3"}, false},
		{"defaulted list element", []any{map[string]any{"name": "a"}}, []any{map[string]any{"name": "a", "policy": "x"}}, true},
		{"longer live list", []any{"a"}, []any{"a", "b"}, false},
		{"reordered list", []any{"a", "b"}, []any{"b", "a"}, false},
		{"map against list", map[string]any{}, []any{}, false},
		{"null", nil, nil, true},
		{"null against value", nil, "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := subset(tc.a, tc.b); got != tc.want {
				t.Errorf("subset(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
