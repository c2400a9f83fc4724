package verify_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/verify"
)

func ExampleVerify() {
	ctx := context.Background()
	store := memory.New()
	subject, _ := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.example", oras.PackManifestOptions{})

	ci, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_ = cosignfmt.SignLegacy(ctx, store, subject, "registry.example/team/app", ci)

	policy := verify.Policy{Keys: []crypto.PublicKey{ci.Public()}}
	v, err := verify.Verify(ctx, store, subject, policy)
	fmt.Println(v.Verified, len(v.Signers), err)

	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = verify.Verify(ctx, store, subject, verify.Policy{Keys: []crypto.PublicKey{stranger.Public()}})
	fmt.Println(errors.Is(err, errdef.ErrSignatureInvalid))
	// Output:
	// true 1 <nil>
	// true
}
