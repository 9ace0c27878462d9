package ec2emu

import (
	"net/http"
	"testing"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
	"github.com/haraft/haraft/eipmover/internal/sigv4/sigv4test"
)

// Each refusal of the shared verifier gets EC2's code and status.
func TestAuthErrorCodes(t *testing.T) {
	sigv4test.CheckAnswers(t, authAnswers(), sigv4.Answers{
		sigv4.MissingAuth:  {Code: "MissingAuthenticationToken", Status: http.StatusUnauthorized},
		sigv4.Presigned:    {Code: "InvalidParameterValue", Status: http.StatusBadRequest},
		sigv4.Incomplete:   {Code: "IncompleteSignature", Status: http.StatusBadRequest},
		sigv4.Mismatch:     {Code: "AuthFailure", Status: http.StatusUnauthorized},
		sigv4.WrongService: {Code: "AuthFailure", Status: http.StatusUnauthorized},
		sigv4.WrongRegion:  {Code: "AuthFailure", Status: http.StatusUnauthorized},
		sigv4.Expired:      {Code: "RequestExpired", Status: http.StatusBadRequest},
	})
}
