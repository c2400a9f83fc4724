package pull

import (
	"context"
	"errors"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// verifiedReader reads a blob and checks it against its descriptor as it
// streams: it never yields more than desc.Size bytes, and at the end it
// reports a short body, trailing data or a digest mismatch instead of io.EOF.
type verifiedReader struct {
	rc     io.ReadCloser
	vr     *content.VerifyReader
	budget *byteBudget // nil: no total cap
	err    error
}

func newVerifiedReader(rc io.ReadCloser, desc ocispec.Descriptor) *verifiedReader {
	return &verifiedReader{rc: rc, vr: content.NewVerifyReader(rc, desc)}
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.vr.Read(p)
	if r.budget != nil {
		if berr := r.budget.consume(n); berr != nil {
			r.err = berr
			return n, berr
		}
	}
	if errors.Is(err, io.EOF) {
		if verr := r.vr.Verify(); verr != nil {
			err = classify(verr)
		}
	} else if err != nil {
		err = classify(err)
	}
	r.err = err
	return n, err
}

// finish drains what is left of the blob (at most its declared size) and
// returns nil only if the whole blob matched its descriptor.
func (r *verifiedReader) finish() error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (r *verifiedReader) Close() error { return r.rc.Close() }

// verifiedStorage wraps a source so every blob fetched through it is checked
// while it streams, whatever the destination does, and counted against the
// fetch's byte budget (when set).
type verifiedStorage struct {
	content.ReadOnlyStorage
	budget *byteBudget
}

func (s verifiedStorage) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.ReadOnlyStorage.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	r := newVerifiedReader(rc, desc)
	r.budget = s.budget
	return r, nil
}
