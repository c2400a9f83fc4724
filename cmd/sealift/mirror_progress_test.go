package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sealift-dev/sealift/mirror"
)

// Mirror progress counts the bytes read from the sources and the artifacts
// and images carried; a pipe gets none at all.
func TestMirrorProgressCounts(t *testing.T) {
	r := newRelease(t, "progress")
	var out bytes.Buffer
	if startMirrorProgress(&out) != nil {
		t.Fatal("progress started on a buffer, which is no terminal")
	}
	p := newMirrorProgress(&out)
	opts := mirror.Options{WithImages: true}
	opts.Remote.PlainHTTP = true
	p.attach(&opts)
	src, err := mirror.ParseLocation(r.reg.URL("team/app", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := mirror.ParseLocation("oci-layout:" + t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mirror.Mirror(context.Background(), src, dst, opts); err != nil {
		t.Fatal(err)
	}
	p.finish()
	if p.artifacts.Load() != 1 || p.images.Load() != 2 {
		t.Errorf("counted %d artifacts and %d images, want 1 and 2", p.artifacts.Load(), p.images.Load())
	}
	// Two images of about 1 KiB and 3x512 B of layers, and the artifact.
	if n := p.bytes.n.Load(); n < 2048 {
		t.Errorf("counted %d bytes read, want at least the images' layers", n)
	}
	p.draw()
	if line := out.String(); !strings.Contains(line, "mirroring 1 artifact(s), 2 image(s), ") {
		t.Errorf("progress line %q", line)
	}

	// -o json and pipes: the command prints the JSON alone on stdout and
	// nothing on stderr.
	stdout, stderr, err := execute(t, "mirror", r.reg.URL("team/app", "1.0.0"), "oci-layout:"+t.TempDir(), "--insecure", "--with-images", "-o", "json")
	if err != nil || stderr != "" || !strings.HasPrefix(stdout, "{") {
		t.Errorf("mirror -o json: %v, stderr %q, stdout %q", err, stderr, stdout)
	}
}
