package pull

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/sealift-dev/sealift/errdef"
)

// A destination registry that refuses an upload whose bytes do not match
// their digest reports the same finding as the verifying reader.
func TestClassifyDigestInvalidUpload(t *testing.T) {
	resp := &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: http.StatusBadRequest,
		Errors: errcode.Errors{{Code: errcode.ErrorCodeDigestInvalid, Message: "provided digest did not match uploaded content"}}}
	err := classify(fmt.Errorf("failed to perform %q on destination: %w", "Push", resp))
	if !errors.Is(err, errdef.ErrDigestMismatch) {
		t.Fatalf("classify = %v, want ErrDigestMismatch", err)
	}
	other := &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: http.StatusBadRequest, Errors: errcode.Errors{{Code: errcode.ErrorCodeNameInvalid}}}
	if errors.Is(classify(other), errdef.ErrDigestMismatch) {
		t.Fatal("a NAME_INVALID answer was taken for a digest mismatch")
	}
}
