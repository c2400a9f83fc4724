package render_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/render"
)

// BenchmarkRenderPlain renders 1 000 ConfigMaps spread over 10 files, the
// shape of the apply benchmark's artifact.
func BenchmarkRenderPlain(b *testing.B) {
	dir := b.TempDir()
	for f := range 10 {
		var sb strings.Builder
		for i := range 100 {
			fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d-%d\n  namespace: ns-%d\n  labels: {app: bench, tier: web}\ndata:\n  index: %q\n  payload: %q\n", f, i, f, fmt.Sprint(i), strings.Repeat("x", 200))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	for b.Loop() {
		objs, err := render.Render(ctx, dir, render.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != 1000 {
			b.Fatalf("rendered %d objects, want 1000", len(objs))
		}
	}
}
