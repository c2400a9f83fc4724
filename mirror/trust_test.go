package mirror

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/registrytest"
)

func publicPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestCarriedTrustNeedsAPin(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t)
	pushArtifact(t, reg, "team/app", "1", "kind: ConfigMap\n")
	key, other := newKey(t), newKey(t)
	root := []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
	opts := plainHTTP
	opts.Trust = &Trust{Keys: [][]byte{publicPEM(t, key), publicPEM(t, other)}, TrustedRoot: root}
	tarFile := filepath.Join(t.TempDir(), "app.tar")
	res := mirrorOK(t, reg.URL("team/app", "1"), "tar:"+tarFile, opts)
	if res.Tag != "1" {
		t.Fatalf("result %+v", res)
	}
	loc := mustParse(t, "tar:"+tarFile)
	// The trust entry is not a tag: the tar still has one.
	if again := mirrorOK(t, "tar:"+tarFile, "oci://"+registrytest.Start(t).Repo("team/app"), plainHTTP); again.Tag != "1" {
		t.Errorf("tar with trust material mirrored as %+v", again)
	}
	target, entries, release, err := OpenRelease(ctx, loc, plainHTTP.Remote)
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	keyFP := cosignfmt.Fingerprint(key.Public())
	tests := []struct {
		name        string
		pins        []string
		keys        int
		root        bool
		ignoredKeys int
	}{
		{"nothing pinned", nil, 0, false, 2},
		{"one key pinned", []string{keyFP}, 1, false, 1},
		{"key and root pinned", []string{keyFP, TrustFingerprint(root)}, 1, true, 1},
		{"a pin the tar does not carry", []string{cosignfmt.Fingerprint(newKey(t).Public())}, 0, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, gotRoot, ignored, err := PinnedTrust(ctx, target, entries, tt.pins)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tt.keys || (gotRoot != nil) != tt.root {
				t.Errorf("got %d keys, root %v; want %d, %v", len(keys), gotRoot != nil, tt.keys, tt.root)
			}
			n := 0
			for _, s := range ignored {
				if len(s) > 4 && s[:4] == "key " {
					n++
				}
			}
			if n != tt.ignoredKeys || (!tt.root && !slices.Contains(ignored, "trusted root "+TrustFingerprint(root))) {
				t.Errorf("ignored %v", ignored)
			}
			if len(keys) == 1 && cosignfmt.Fingerprint(keys[0]) != keyFP {
				t.Errorf("kept key %s, want %s", cosignfmt.Fingerprint(keys[0]), keyFP)
			}
		})
	}
}
