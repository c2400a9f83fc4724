package push_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/push"
)

func ExamplePack() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: ConfigMap\n"), 0o644)

	ctx := context.Background()
	store := memory.New()
	opts := push.Options{Source: "https://git.example/app.git", Revision: "main@sha1:0c1e"}
	first, err := push.Pack(ctx, dir, opts, store)
	if err != nil {
		panic(err)
	}
	second, _ := push.Pack(ctx, dir, opts, memory.New())

	raw, _ := content.FetchAll(ctx, store, first)
	var m ocispec.Manifest
	_ = json.Unmarshal(raw, &m)
	fmt.Println("config:", m.Config.MediaType)
	fmt.Println("layer:", m.Layers[0].MediaType)
	fmt.Println("created:", m.Annotations[ocispec.AnnotationCreated])
	fmt.Println("revision:", m.Annotations[ocispec.AnnotationRevision])
	fmt.Println("reproducible:", first.Digest == second.Digest)
	// Output:
	// config: application/vnd.cncf.flux.config.v1+json
	// layer: application/vnd.cncf.flux.content.v1.tar+gzip
	// created: 1970-01-01T00:00:00Z
	// revision: main@sha1:0c1e
	// reproducible: true
}
