package ec2emu

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AWS's published SigV4 test-suite vectors (get-vanilla and
// get-vanilla-query-order-key-case): an independent check of the verifier,
// not just agreement with the SDK's signer.
func TestSigV4PublishedVectors(t *testing.T) {
	const (
		secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		scope  = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	)
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	tests := []struct {
		name, target, sig string
		ok                bool
	}{
		{"get-vanilla", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", true},
		{"get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", true},
		{"tampered query", "/?Param2=value3&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", false},
		{"wrong signature", "/", "0fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://example.amazonaws.com"+tt.target, nil)
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", scope+tt.sig)
			v := sigV4Verifier{service: "service", now: now, maxSkew: time.Minute,
				secret: func(ak string) (string, bool) { return secret, ak == "AKIDEXAMPLE" }}
			ak, apiErr := v.verify(r, nil)
			if tt.ok && (apiErr != nil || ak != "AKIDEXAMPLE") {
				t.Fatalf("rejected: %v", apiErr)
			}
			if !tt.ok && (apiErr == nil || apiErr.Code != "AuthFailure") {
				t.Fatalf("want AuthFailure, got %v", apiErr)
			}
		})
	}
}

// Requests signed by the SDK's own signer, sent over a real socket, and
// checked by the emulator's verifier.
func TestSigV4SDKSignerRoundTrip(t *testing.T) {
	type result struct {
		ak  string
		err *apiError
	}
	results := make(chan result, 1)
	var mutate func(*http.Request, []byte) []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if mutate != nil {
			body = mutate(r, body)
		}
		v := sigV4Verifier{service: "ec2", regions: []string{"us-east-1"}, maxSkew: 15 * time.Minute, now: time.Now(),
			secret: func(ak string) (string, bool) { return testSecret, ak == testAK }}
		ak, apiErr := v.verify(r, body)
		results <- result{ak, apiErr}
	}))
	defer srv.Close()

	send := func(t *testing.T, method, target, body, secret, region string, signedAt time.Time, hdr map[string]string) result {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: secret}
		// A new signer each time: the signer caches derived keys by access
		// key, region and service, not by secret.
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex([]byte(body)), "ec2", region, signedAt); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-results
	}

	form := url.Values{"Action": {"DescribeAddresses"}, "Version": {"2016-11-15"}, "Filter.1.Name": {"public-ip"}, "Filter.1.Value.1": {"198.51.100.*"}}.Encode()
	tests := []struct {
		name, method, target, body, secret, region string
		skew                                       time.Duration
		hdr                                        map[string]string
		mutate                                     func(*http.Request, []byte) []byte
		code                                       string
	}{
		{name: "post form", method: "POST", target: "/", body: form},
		{name: "get query string", method: "GET", target: "/?Action=DescribeAddresses&Version=2016-11-15&PublicIp.1=198.51.100.1"},
		{name: "query needing encoding", method: "GET", target: "/?Action=DescribeAddresses&Filter.1.Value.1=a%20b%2Fc%2A~&Filter.1.Name=tag%3AName"},
		{name: "path needing encoding", method: "POST", target: "/a%20b/c", body: form},
		{name: "extra header with spaces", method: "POST", target: "/", body: form, hdr: map[string]string{"X-Amz-Meta-Note": "  a   b  "}},
		{name: "wrong secret", method: "POST", target: "/", body: form, secret: "wrong", code: "AuthFailure"},
		{name: "other region", method: "POST", target: "/", body: form, region: "eu-west-1", code: "AuthFailure"},
		{name: "clock skew", method: "POST", target: "/", body: form, skew: -time.Hour, code: "RequestExpired"},
		{name: "body changed after signing", method: "POST", target: "/", body: form, code: "AuthFailure",
			mutate: func(_ *http.Request, b []byte) []byte { return append(b, "&InstanceId.1=i-x"...) }},
		{name: "signed header changed", method: "POST", target: "/", body: form, code: "AuthFailure",
			mutate: func(r *http.Request, b []byte) []byte { r.Header.Set("Content-Type", "text/plain"); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.secret == "" {
				tt.secret = testSecret
			}
			if tt.region == "" {
				tt.region = "us-east-1"
			}
			mutate = tt.mutate
			res := send(t, tt.method, tt.target, tt.body, tt.secret, tt.region, time.Now().Add(tt.skew), tt.hdr)
			switch {
			case tt.code == "" && res.err != nil:
				t.Fatalf("rejected: %v", res.err)
			case tt.code == "" && res.ak != testAK:
				t.Fatalf("access key %q", res.ak)
			case tt.code != "" && (res.err == nil || res.err.Code != tt.code):
				t.Fatalf("want %s, got %v", tt.code, res.err)
			}
		})
	}
}

func TestSigV4MalformedHeaders(t *testing.T) {
	tests := []struct{ name, authz, code string }{
		{"none", "", "MissingAuthenticationToken"},
		{"other algorithm", "AWS3-HTTPS AWSAccessKeyId=x,Algorithm=HmacSHA256,Signature=y", "IncompleteSignature"},
		{"no signature", "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date", "IncompleteSignature"},
		{"short scope", "AWS4-HMAC-SHA256 Credential=AK/20150830/ec2/aws4_request, SignedHeaders=host, Signature=ab", "IncompleteSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			v := sigV4Verifier{service: "ec2", now: time.Now(), secret: func(string) (string, bool) { return "s", true }}
			if _, apiErr := v.verify(r, nil); apiErr == nil || apiErr.Code != tt.code {
				t.Fatalf("want %s, got %v", tt.code, apiErr)
			}
		})
	}
}
