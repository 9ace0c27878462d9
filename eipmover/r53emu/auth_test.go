package r53emu

import (
	"net/http"
	"testing"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
	"github.com/haraft/haraft/eipmover/internal/sigv4/sigv4test"
)

// Each refusal of the shared verifier gets Route 53's code and status.
func TestAuthErrorCodes(t *testing.T) {
	sigv4test.CheckAnswers(t, authAnswers(), sigv4.Answers{
		sigv4.MissingAuth:  {Code: "MissingAuthenticationToken", Status: http.StatusForbidden},
		sigv4.Presigned:    {Code: "InvalidInput", Status: http.StatusBadRequest},
		sigv4.Incomplete:   {Code: "IncompleteSignature", Status: http.StatusForbidden},
		sigv4.Mismatch:     {Code: "SignatureDoesNotMatch", Status: http.StatusForbidden},
		sigv4.WrongService: {Code: "SignatureDoesNotMatch", Status: http.StatusForbidden},
		sigv4.WrongRegion:  {Code: "SignatureDoesNotMatch", Status: http.StatusForbidden},
		sigv4.Expired:      {Code: "SignatureDoesNotMatch", Status: http.StatusForbidden},
	})
}
