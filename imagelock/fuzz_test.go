package imagelock_test

import (
	"bytes"
	"testing"

	"github.com/sealift-dev/sealift/imagelock"
)

// FuzzParse feeds arbitrary bytes to the lock parser: it must never panic,
// and whatever it accepts must encode again and parse back to the same
// entries (Marshal sorts them).
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages:\n- image: nginx:1.25\n  digest: " + dgst + "\n  mediaType: application/vnd.oci.image.index.v1+json\n  size: 12\n"))
	f.Add([]byte("apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages:\n- {image: 'localhost:5000/a@" + dgst + "', digest: " + dgst + ", unresolved: true}\n"))
	f.Add([]byte("apiVersion: sealift.dev/v1alpha1\nkind: ImagesLock\nimages: []\n"))
	f.Add([]byte("a: &a [x]\nb: [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := imagelock.Parse(data)
		if err != nil {
			return
		}
		out, err := imagelock.Marshal(l)
		if err != nil {
			t.Fatalf("Parse accepted a lock Marshal refuses: %v", err)
		}
		again, err := imagelock.Parse(out)
		if err != nil {
			t.Fatalf("Marshal wrote a lock Parse refuses: %v\n%s", err, out)
		}
		out2, err := imagelock.Marshal(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, out, out2)
		}
		x := imagelock.NewIndex(again)
		for _, img := range again.Images {
			if _, ok := x.Lookup(img.Image); !ok {
				t.Fatalf("Lookup(%q) finds no entry", img.Image)
			}
		}
	})
}

// FuzzParseReference checks that a reference that parses prints in a form
// that parses back to itself.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"nginx", "localhost:5000/a:b", "ghcr.io/a/b@" + dgst, "[::1]:5000/x", "a/b/c:1@" + dgst} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := imagelock.ParseReference(s)
		if err != nil {
			return
		}
		again, err := imagelock.ParseReference(r.String())
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v, printed %q, parsed back to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
