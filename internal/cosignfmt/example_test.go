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
	// sha256-05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f.sig
	// {"critical":{"identity":{"docker-reference":"registry.example/team/app"},"image":{"docker-manifest-digest":"sha256:05b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f"},"type":"cosign container image signature"},"optional":null}
}
