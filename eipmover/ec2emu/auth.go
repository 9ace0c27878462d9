package ec2emu

import (
	"net/http"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

// authAnswers are EC2's answers to a refused signature: 401 AuthFailure
// for anything about the credentials, 400 for a malformed request.
func authAnswers() sigv4.Answers {
	return sigv4.Answers{
		sigv4.MissingAuth:  {Status: http.StatusUnauthorized, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"},
		sigv4.Presigned:    {Status: http.StatusBadRequest, Code: "InvalidParameterValue"},
		sigv4.Incomplete:   {Status: http.StatusBadRequest, Code: "IncompleteSignature"},
		sigv4.Mismatch:     {Status: http.StatusUnauthorized, Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials"},
		sigv4.WrongService: {Status: http.StatusUnauthorized, Code: "AuthFailure"},
		sigv4.WrongRegion:  {Status: http.StatusUnauthorized, Code: "AuthFailure"},
		sigv4.Expired:      {Status: http.StatusBadRequest, Code: "RequestExpired", Message: "Request has expired."},
	}
}

// verifySignature checks r's SigV4 signature and answers a refusal as EC2
// does.
func verifySignature(v *sigv4.Verifier, r *http.Request, body []byte) (string, *apiError) {
	ak, err := v.Verify(r, body)
	if err == nil {
		return ak, nil
	}
	a := authAnswers().For(err)
	return ak, &apiError{Status: a.Status, Code: a.Code, Message: a.Message}
}
