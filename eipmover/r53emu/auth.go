package r53emu

import (
	"net/http"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

// authAnswers are Route 53's answers to a refused signature: 403 for all
// but a presigned URL, SignatureDoesNotMatch for anything about the
// credentials (an expired signature included).
func authAnswers() sigv4.Answers {
	return sigv4.Answers{
		sigv4.MissingAuth:  {Status: http.StatusForbidden, Code: "MissingAuthenticationToken"},
		sigv4.Presigned:    {Status: http.StatusBadRequest, Code: "InvalidInput"},
		sigv4.Incomplete:   {Status: http.StatusForbidden, Code: "IncompleteSignature"},
		sigv4.Mismatch:     {Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Message: errAuthFailure().Message},
		sigv4.WrongService: {Status: http.StatusForbidden, Code: "SignatureDoesNotMatch"},
		sigv4.WrongRegion:  {Status: http.StatusForbidden, Code: "SignatureDoesNotMatch"},
		sigv4.Expired:      {Status: http.StatusForbidden, Code: "SignatureDoesNotMatch"},
	}
}

// verifySignature checks r's SigV4 signature and answers a refusal as
// Route 53 does.
func verifySignature(v *sigv4.Verifier, r *http.Request, body []byte) (string, *apiError) {
	ak, err := v.Verify(r, body)
	if err == nil {
		return ak, nil
	}
	a := authAnswers().For(err)
	return ak, &apiError{Status: a.Status, Code: a.Code, Message: a.Message}
}
