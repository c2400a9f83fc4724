package cosignfmt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

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

func ExampleSignBundle() {
	ctx := context.Background()
	store := memory.New()
	subject, _ := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.example", oras.PackManifestOptions{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	referrer, _ := cosignfmt.SignBundle(ctx, store, subject, key)
	fmt.Println(referrer.ArtifactType)

	listed, _ := cosignfmt.ListBundleReferrers(ctx, store, subject)
	layers, _ := cosignfmt.FetchBundleManifest(ctx, store, listed[0], subject.Digest)
	raw, _ := content.FetchAll(ctx, store, layers[0])
	bundle, _ := cosignfmt.ParseBundle(raw)
	fmt.Println(bundle.VerifyKey(key.Public(), subject.Digest))
	// Output:
	// application/vnd.dev.sigstore.bundle.v0.3+json
	// <nil>
}
