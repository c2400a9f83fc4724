package mirror

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/limits"
)

// tarEntry is one entry of a hand-made tar; size overrides len(body) in
// the header, and a short body then ends the archive there.
type tarEntry struct {
	name     string
	typeflag byte
	body     []byte
	size     int64
	linkname string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.linkname}
		if e.typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if e.size != 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.size != 0 {
			// The header claims more than is written: stop here, as a
			// truncated or hostile file would.
			tw.Write(e.body)
			return buf.Bytes()
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// validLayout returns the entries of a layout holding one manifest.
func validLayout(t testing.TB) ([]tarEntry, ocispec.Descriptor) {
	t.Helper()
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	return []tarEntry{
		{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: indexJSON(t, desc)},
		{name: "blobs/", typeflag: tar.TypeDir},
		{name: "blobs/sha256/", typeflag: tar.TypeDir},
		{name: "blobs/sha256/" + desc.Digest.Encoded(), body: manifest},
		{name: "blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", body: []byte("{}")},
	}, desc
}

func indexJSON(t testing.TB, descs ...ocispec.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckLayoutTar is the table of known attacks on a tar read as a
// layout; each must be refused before oras-go opens the file.
func TestCheckLayoutTar(t *testing.T) {
	valid, desc := validLayout(t)
	with := func(extra ...tarEntry) []tarEntry { return append(append([]tarEntry{}, valid...), extra...) }
	replaceIndex := func(body []byte) []tarEntry {
		out := append([]tarEntry{}, valid...)
		out[1] = tarEntry{name: "index.json", body: body}
		return out
	}
	big := desc
	big.Size = limits.MaxManifestBytes + 1
	wrongSize := desc
	wrongSize.Size++
	missing := desc
	missing.Digest = digest.FromString("elsewhere")

	tests := map[string]struct {
		entries []tarEntry
		want    error
	}{
		"parent directory":    {with(tarEntry{name: "../evil", body: []byte("x")}), errdef.ErrUnsafePath},
		"nested parent":       {with(tarEntry{name: "blobs/../../evil", body: []byte("x")}), errdef.ErrUnsafePath},
		"absolute path":       {with(tarEntry{name: "/etc/passwd", body: []byte("x")}), errdef.ErrUnsafePath},
		"backslash":           {with(tarEntry{name: `blobs\sha256\x`, body: []byte("x")}), errdef.ErrUnsafePath},
		"symlink":             {with(tarEntry{name: "blobs/sha256/" + digest.FromString("l").Encoded(), typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}), errdef.ErrUnsafePath},
		"hard link":           {with(tarEntry{name: "blobs/sha256/" + digest.FromString("h").Encoded(), typeflag: tar.TypeLink, linkname: "oci-layout"}), errdef.ErrUnsafePath},
		"device":              {with(tarEntry{name: "blobs/sha256/" + digest.FromString("d").Encoded(), typeflag: tar.TypeChar}), errdef.ErrUnsafePath},
		"file outside":        {with(tarEntry{name: "run.sh", body: []byte("x")}), errdef.ErrUnsafePath},
		"bad blob name":       {with(tarEntry{name: "blobs/sha256/not-hex", body: []byte("x")}), errdef.ErrUnsafePath},
		"unknown algorithm":   {with(tarEntry{name: "blobs/md5/00", body: []byte("x")}), errdef.ErrUnsafePath},
		"blob as directory":   {with(tarEntry{name: "blobs/sha256/" + digest.FromString("x").Encoded() + "/", typeflag: tar.TypeDir}), errdef.ErrUnsafePath},
		"duplicate":           {with(valid[0]), errdef.ErrUnsafePath},
		"duplicate by clean":  {with(tarEntry{name: "./oci-layout", body: []byte("{}")}), errdef.ErrUnsafePath},
		"oversized blob":      {with(tarEntry{name: "blobs/sha256/" + digest.FromString("b").Encoded(), size: limits.MaxImageBlobBytes + 1}), errdef.ErrSizeExceedsLimit},
		"oversized index":     {append([]tarEntry{valid[0]}, tarEntry{name: "index.json", size: limits.MaxManifestBytes + 1}), errdef.ErrSizeExceedsLimit},
		"index entry too big": {replaceIndex(indexJSON(t, big)), errdef.ErrSizeExceedsLimit},
		"index size lies":     {replaceIndex(indexJSON(t, wrongSize)), errdef.ErrSizeMismatch},
		"index blob missing":  {replaceIndex(indexJSON(t, missing)), errdef.ErrInvalidManifest},
		"index not json":      {replaceIndex([]byte("{")), errdef.ErrInvalidManifest},
		"no oci-layout":       {valid[1:], errdef.ErrInvalidManifest},
		"no index":            {append([]tarEntry{valid[0]}, valid[2:]...), errdef.ErrInvalidManifest},
		"not a tar":           {nil, errdef.ErrInvalidManifest},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var b []byte
			if tt.entries == nil {
				b = bytes.Repeat([]byte("not a tar "), 100)
			} else {
				b = makeTar(t, tt.entries)
			}
			_, err := checkLayoutTarStream(bytes.NewReader(b))
			if !errors.Is(err, tt.want) {
				t.Fatalf("checkLayoutTarStream: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("valid layout", func(t *testing.T) {
		if _, err := checkLayoutTarStream(bytes.NewReader(makeTar(t, valid))); err != nil {
			t.Fatalf("a valid layout is refused: %v", err)
		}
	})
}

// TestMirrorRefusesHostileTar checks that Mirror refuses a hostile tar
// source before reading its graph, and names the file.
func TestMirrorRefusesHostileTar(t *testing.T) {
	valid, _ := validLayout(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "evil.tar")
	if err := os.WriteFile(file, makeTar(t, append(valid, tarEntry{name: "../../etc/cron.d/x", body: []byte("x")})), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, err := Mirror(t.Context(), mustParse(t, "tar:"+file), mustParse(t, "oci-layout:"+out), Options{})
	if !errors.Is(err, errdef.ErrUnsafePath) {
		t.Fatalf("Mirror from a hostile tar: %v, want ErrUnsafePath", err)
	}
	var me *Error
	if !errors.As(err, &me) || me.Op != "open" || me.Location != "tar:"+file {
		t.Fatalf("error %v does not name the source file", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused mirror created the destination: %v", err)
	}
}

// FuzzCheckLayoutTar builds tars from fuzzed entries (raw bytes would
// rarely get past tar's header checksums) beside a layout's own files, and
// checks that the tar check never panics and that what it accepts holds
// only layout entries within their caps.
func FuzzCheckLayoutTar(f *testing.F) {
	valid, desc := validLayout(f)
	f.Add(valid[4].name, byte(tar.TypeReg), valid[4].body, indexJSON(f, desc))
	f.Add("../x", byte(tar.TypeReg), []byte("x"), indexJSON(f))
	f.Add("blobs/sha256/", byte(tar.TypeDir), []byte{}, []byte("{"))
	f.Add("blobs/sha256/"+digest.FromString("l").Encoded(), byte(tar.TypeSymlink), []byte{}, indexJSON(f))
	f.Fuzz(func(t *testing.T, name string, typeflag byte, body, index []byte) {
		entries := []tarEntry{
			{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
			{name: "index.json", body: index},
			{name: name, typeflag: typeflag, body: body},
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range entries {
			hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Mode: 0o644, Size: int64(len(e.body))}
			if e.typeflag == 0 {
				hdr.Typeflag = tar.TypeReg
			}
			if hdr.Typeflag != tar.TypeReg {
				hdr.Size = 0
			}
			if tw.WriteHeader(hdr) != nil {
				return // not a header a tar can hold
			}
			if hdr.Size > 0 {
				if _, err := tw.Write(e.body); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		roots, err := checkLayoutTarStream(bytes.NewReader(buf.Bytes()))
		if err != nil {
			return
		}
		clean := path.Clean(name)
		isDir, limit, err := layoutEntryKind(clean)
		if err != nil {
			t.Fatalf("accepted entry %q: %v", name, err)
		}
		if isDir != (typeflag == tar.TypeDir) || int64(len(body)) > limit && !isDir {
			t.Fatalf("accepted entry %q of type %q and %d bytes", name, typeflag, len(body))
		}
		for _, r := range roots {
			if r.Size < 0 || r.Size > limits.MaxManifestBytes {
				t.Fatalf("accepted an index entry of %d bytes", r.Size)
			}
		}
	})
}

// TestCheckGraph checks the bounded walk of a layout's graph that runs
// before oras-go opens it, for a tar and for a directory.
func TestCheckGraph(t *testing.T) {
	valid, _ := validLayout(t)
	nested := func(child ocispec.Descriptor) []byte {
		return indexJSON(t, child)
	}
	huge := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("huge"), Size: limits.MaxManifestBytes + 1}
	wide := make([]ocispec.Descriptor, limits.MaxLayers+1)
	for i := range wide {
		wide[i] = ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("x"), Size: 1}
	}
	wideIndex := indexJSON(t, wide...)
	tests := map[string]struct {
		root []byte // an index blob listed in index.json
		want error
	}{
		"nested manifest over the cap": {nested(huge), errdef.ErrSizeExceedsLimit},
		"too many descriptors":         {wideIndex, errdef.ErrSizeExceedsLimit},
		"not json":                     {[]byte("[not json"), errdef.ErrInvalidManifest},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(tt.root), Size: int64(len(tt.root))}
			entries := append(append([]tarEntry{}, valid...), tarEntry{name: blobName(root.Digest), body: tt.root})
			entries[1] = tarEntry{name: "index.json", body: indexJSON(t, root)}
			dir := t.TempDir()

			file := filepath.Join(dir, "l.tar")
			if err := os.WriteFile(file, makeTar(t, entries), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := openTarSource(t.Context(), file); !errors.Is(err, tt.want) {
				t.Fatalf("tar: %v, want %v", err, tt.want)
			}

			layout := filepath.Join(dir, "layout")
			for _, e := range entries {
				p := filepath.Join(layout, filepath.FromSlash(e.name))
				if e.typeflag == tar.TypeDir {
					continue
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, e.body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, closeRoot, err := openLayoutSource(t.Context(), layout)
			if err == nil {
				closeRoot()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("directory: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("content that does not match its digest", func(t *testing.T) {
		entries := append([]tarEntry{}, valid...)
		body := append([]byte{}, entries[4].body...)
		body[len(body)-2] = ' ' // same size, another digest
		entries[4].body = body
		file := filepath.Join(t.TempDir(), "l.tar")
		if err := os.WriteFile(file, makeTar(t, entries), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := openTarSource(t.Context(), file); !errors.Is(err, errdef.ErrInvalidManifest) {
			t.Fatalf("tampered manifest: %v, want ErrInvalidManifest", err)
		}
	})
}
