package mirror_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"oras.land/oras-go/v2/content/oci"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/mirror"
	"github.com/sealift-dev/sealift/push"
	"github.com/sealift-dev/sealift/verify"
)

// ExampleMirror packs a signed artifact into a tar file, as it would leave
// a connected network, carries it into a layout on the other side, and
// verifies it there.
func ExampleMirror() {
	ctx := context.Background()
	work, _ := os.MkdirTemp("", "mirror-example-")
	defer os.RemoveAll(work)

	// CI side: an artifact in a layout, signed in both cosign formats.
	manifests := filepath.Join(work, "rendered")
	_ = os.Mkdir(manifests, 0o755)
	_ = os.WriteFile(filepath.Join(manifests, "cm.yaml"), []byte("kind: ConfigMap\n"), 0o644)
	ci, _ := oci.New(filepath.Join(work, "ci"))
	desc, _ := push.Push(ctx, manifests, ci, "1.4.2", push.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_ = cosignfmt.SignLegacy(ctx, ci, desc, "registry.example/team/app", key)
	_, _ = cosignfmt.SignBundle(ctx, ci, desc, key)

	// Across the gap: layout -> tar -> layout, checked against the key first.
	policy := verify.Policy{Keys: []crypto.PublicKey{key.Public()}}
	opts := mirror.Options{Policy: &policy}
	for _, hop := range [][2]string{
		{"oci-layout:" + filepath.Join(work, "ci") + ":1.4.2", "tar:" + filepath.Join(work, "app.tar")},
		{"tar:" + filepath.Join(work, "app.tar"), "oci-layout:" + filepath.Join(work, "site")},
	} {
		src, _ := mirror.ParseLocation(hop[0])
		dst, _ := mirror.ParseLocation(hop[1])
		res, err := mirror.Mirror(ctx, src, dst, opts)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(res.Digest == desc.Digest.String(), res.Tag, res.Signatures, res.Referrers)
	}

	// Cluster side: the signatures came along.
	site, _ := oci.New(filepath.Join(work, "site"))
	v, err := verify.Verify(ctx, site, desc, policy)
	fmt.Println(v.Verified, len(v.Checked), err)
	// Output:
	// true 1.4.2 1 1
	// true 1.4.2 1 1
	// true 2 <nil>
}

// ExampleParseList reads a mirror list, the release `sealift mirror -f`
// carries in one transfer, and the destination it goes to.
func ExampleParseList() {
	list, err := mirror.ParseList([]byte(`
apiVersion: sealift.dev/v1alpha1
kind: MirrorList
artifacts:
- {repository: registry.example/team/app, tag: 1.4.2, images: true}
- {repository: registry.example/team/db, semver: "~2.3"}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range list.Artifacts {
		ref, _ := a.Reference()
		fmt.Println(ref, a.Semver, a.Images)
	}
	dst, _ := mirror.ParseDestination("oci://mirror.internal:5000/edge")
	fmt.Println(dst.Ref.Registry, dst.Ref.Repository)
	// Output:
	// registry.example/team/app:1.4.2  true
	// registry.example/team/db ~2.3 false
	// mirror.internal:5000 edge
}
