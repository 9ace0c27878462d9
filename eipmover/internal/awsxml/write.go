// Package awsxml writes the XML bodies of the AWS APIs the emulators
// speak (EC2's Query API, Route 53's REST API): the document with its XML
// declaration, its exact length and the service's headers.
package awsxml

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
)

// Write encodes v as an XML document and answers with status, the
// Content-Type and Content-Length, and header's fields. A v that cannot
// be encoded (a programming error) answers 500 with the reason.
func Write(w http.ResponseWriter, status int, header http.Header, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
