package awsxml

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	type body struct {
		XMLName xml.Name `xml:"R"`
		A       string   `xml:"a"`
	}
	tests := []struct {
		name   string
		v      any
		status int
		want   string
	}{
		{"document", body{A: "x<y"}, http.StatusOK, xml.Header + "<R><a>x&lt;y</a></R>"},
		{"unencodable", map[string]int{"a": 1}, http.StatusInternalServerError, "encode response: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, http.StatusOK, http.Header{"Content-Type": {"text/xml"}, "Server": {"AmazonEC2"}}, tt.v)
			got := rec.Body.String()
			if rec.Code != tt.status || !strings.HasPrefix(got, tt.want) {
				t.Fatalf("%d %q, want %d %q", rec.Code, got, tt.status, tt.want)
			}
			if tt.status == http.StatusOK && (rec.Header().Get("Content-Length") != strconv.Itoa(len(got)) || rec.Header().Get("Server") != "AmazonEC2" || rec.Header().Get("Content-Type") != "text/xml") {
				t.Fatalf("headers %v", rec.Header())
			}
		})
	}
}
