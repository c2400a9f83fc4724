package cosignfmt_test

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
)

func ExampleNewSimpleSigning() {
	d := digest.FromString("manifest")
	fmt.Println(cosignfmt.LegacySignatureTag(d))
	payload, _ := json.Marshal(cosignfmt.NewSimpleSigning("registry.example/team/app", d, nil))
	fmt.Println(string(payload))
	// Output:
	// sha256-b21fb72f5ab2ea5d8c3ba12ab44b2a14c2b0f8e34d2ba7ff6c8c7ad845ce1a54.sig
	// {"critical":{"identity":{"docker-reference":"registry.example/team/app"},"image":{"docker-manifest-digest":"sha256:b21fb72f5ab2ea5d8c3ba12ab44b2a14c2b0f8e34d2ba7ff6c8c7ad845ce1a54"},"type":"cosign container image signature"},"optional":null}
}
