package sigv4

import (
	"context"
	"encoding/hex"
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

const (
	testAK     = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

func exampleSecret(ak string) (string, bool) { return testSecret, ak == testAK }

// The key derivation example of AWS's SigV4 documentation ("Examples of
// how to derive a signing key").
func TestSigningKeyDocumentedExample(t *testing.T) {
	got := hex.EncodeToString(SigningKey(testSecret, "20120215", "us-east-1", "iam"))
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if got != want {
		t.Fatalf("signing key %s, want %s", got, want)
	}
}

// AWS's published SigV4 test-suite vectors: an independent check of the
// verifier, not just agreement with the SDK's signer. Each tampered case
// is one of them with one signed part changed.
func TestPublishedVectors(t *testing.T) {
	const scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	tests := []struct {
		name, target, sig string
		reason            Reason // 0: accepted
	}{
		{"get-vanilla", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", 0},
		{"get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", 0},
		{"get-vanilla-query-order-key-case, other order", "/?Param1=value1&Param2=value2", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", 0},
		{"upper-case signature", "/", "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31", 0},
		{"tampered query", "/?Param2=value3&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", Mismatch},
		{"tampered path", "/x", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", Mismatch},
		{"wrong signature", "/", "0fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://example.amazonaws.com"+tt.target, nil)
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", scope+tt.sig)
			v := Verifier{Service: "service", Now: now, MaxSkew: time.Minute, Secret: exampleSecret}
			ak, err := v.Verify(r, nil)
			if ak != testAK {
				t.Errorf("access key %q, want %q also when refused", ak, testAK)
			}
			switch {
			case tt.reason == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.reason != 0 && (err == nil || err.Reason != tt.reason):
				t.Fatalf("want %v, got %v", tt.reason, err)
			}
		})
	}
}

// The canonical request of the get-vanilla vector, as AWS publishes it.
func TestCanonicalRequestGetVanilla(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	got := CanonicalRequest(r, []string{"host", "x-amz-date"}, SHA256Hex(nil))
	const want = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got != want {
		t.Fatalf("canonical request\n%q\nwant\n%q", got, want)
	}
}

// Requests signed by the SDK's own signer, sent over a real socket, and
// checked by the verifier.
func TestSDKSignerRoundTrip(t *testing.T) {
	type result struct {
		ak  string
		err *Error
	}
	results := make(chan result, 1)
	var mutate func(*http.Request, []byte) []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if mutate != nil {
			body = mutate(r, body)
		}
		v := Verifier{Service: "ec2", Regions: []string{"us-east-1"}, MaxSkew: 15 * time.Minute, Now: time.Now(), Secret: exampleSecret}
		ak, err := v.Verify(r, body)
		results <- result{ak, err}
	}))
	defer srv.Close()

	send := func(t *testing.T, method, target, body, secret, region, service string, signedAt time.Time, hdr map[string]string) result {
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
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, SHA256Hex([]byte(body)), service, region, signedAt); err != nil {
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
		name, method, target, body, secret, region, service string
		skew                                                time.Duration
		hdr                                                 map[string]string
		mutate                                              func(*http.Request, []byte) []byte
		reason                                              Reason
	}{
		{name: "post form", method: "POST", target: "/", body: form},
		{name: "get query string", method: "GET", target: "/?Action=DescribeAddresses&Version=2016-11-15&PublicIp.1=198.51.100.1"},
		{name: "query needing encoding", method: "GET", target: "/?Action=DescribeAddresses&Filter.1.Value.1=a%20b%2Fc%2A~&Filter.1.Name=tag%3AName"},
		{name: "path needing encoding", method: "POST", target: "/a%20b/c", body: form},
		{name: "REST path", method: "GET", target: "/2013-04-01/hostedzone/Z1/rrset?maxitems=2&name=www.example.com."},
		{name: "extra header with spaces", method: "POST", target: "/", body: form, hdr: map[string]string{"X-Amz-Meta-Note": "  a   b  "}},
		{name: "wrong secret", method: "POST", target: "/", body: form, secret: "wrong", reason: Mismatch},
		{name: "other region", method: "POST", target: "/", body: form, region: "eu-west-1", reason: WrongRegion},
		{name: "other service", method: "POST", target: "/", body: form, service: "route53", reason: WrongService},
		{name: "clock skew", method: "POST", target: "/", body: form, skew: -time.Hour, reason: Expired},
		{name: "body changed after signing", method: "POST", target: "/", body: form, reason: Mismatch,
			mutate: func(_ *http.Request, b []byte) []byte { return append(b, "&InstanceId.1=i-x"...) }},
		{name: "signed header changed", method: "POST", target: "/", body: form, reason: Mismatch,
			mutate: func(r *http.Request, b []byte) []byte { r.Header.Set("Content-Type", "text/plain"); return b }},
		{name: "date changed", method: "POST", target: "/", body: form, reason: Mismatch,
			mutate: func(r *http.Request, b []byte) []byte {
				d, _ := time.Parse(DateLayout, r.Header.Get("X-Amz-Date"))
				r.Header.Set("X-Amz-Date", d.Add(time.Second).Format(DateLayout))
				return b
			}},
		{name: "date unparsable", method: "POST", target: "/", body: form, reason: Incomplete,
			mutate: func(r *http.Request, b []byte) []byte { r.Header.Set("X-Amz-Date", "yesterday"); return b }},
		{name: "date removed", method: "POST", target: "/", body: form, reason: Incomplete,
			mutate: func(r *http.Request, b []byte) []byte { r.Header.Del("X-Amz-Date"); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.secret == "" {
				tt.secret = testSecret
			}
			if tt.region == "" {
				tt.region = "us-east-1"
			}
			if tt.service == "" {
				tt.service = "ec2"
			}
			mutate = tt.mutate
			res := send(t, tt.method, tt.target, tt.body, tt.secret, tt.region, tt.service, time.Now().Add(tt.skew), tt.hdr)
			switch {
			case tt.reason == 0 && res.err != nil:
				t.Fatalf("refused: %v", res.err)
			case tt.reason == 0 && res.ak != testAK:
				t.Fatalf("access key %q", res.ak)
			case tt.reason != 0 && (res.err == nil || res.err.Reason != tt.reason):
				t.Fatalf("want %v, got %v", tt.reason, res.err)
			}
		})
	}
}

func TestMalformedHeaders(t *testing.T) {
	tests := []struct {
		name, target, authz string
		reason              Reason
	}{
		{"none", "/", "", MissingAuth},
		{"presigned", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", "", Presigned},
		{"other algorithm", "/", "AWS3-HTTPS AWSAccessKeyId=x,Algorithm=HmacSHA256,Signature=y", Incomplete},
		{"algorithm only", "/", "AWS4-HMAC-SHA256", Incomplete},
		{"no signature", "/", "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date", Incomplete},
		{"short scope", "/", "AWS4-HMAC-SHA256 Credential=AK/20150830/ec2/aws4_request, SignedHeaders=host, Signature=ab", Incomplete},
		{"bad terminator", "/", "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws5_request, SignedHeaders=host, Signature=ab", Incomplete},
		{"short date", "/", "AWS4-HMAC-SHA256 Credential=AK/2015083/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab", Incomplete},
		{"unsorted signed headers", "/", "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=x-amz-date;host, Signature=ab", Incomplete},
		{"host not signed", "/", "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=x-amz-date, Signature=ab", Incomplete},
		{"unknown key", "/", "AWS4-HMAC-SHA256 Credential=NOBODY/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1"+tt.target, nil)
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			v := Verifier{Service: "ec2", Now: time.Now(), Secret: func(ak string) (string, bool) { return "s", ak == "AK" }}
			if _, err := v.Verify(r, nil); err == nil || err.Reason != tt.reason {
				t.Fatalf("want %v, got %v", tt.reason, err)
			}
		})
	}
}

// FuzzVerify: no Authorization header, date or query makes the verifier
// panic, and none is accepted without the secret.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", "20150830T123600Z", "/")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=,Signature=", "x", "/?%zz=%")
	f.Fuzz(func(t *testing.T, authz, date, target string) {
		u, err := url.Parse("https://example.amazonaws.com" + target)
		if err != nil || u.Host != "example.amazonaws.com" {
			return
		}
		r := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}}
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		v := Verifier{Service: "service", Now: time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC), MaxSkew: time.Minute,
			Secret: func(ak string) (string, bool) { return "not the example secret", ak == testAK }}
		if _, err := v.Verify(r, nil); err == nil {
			t.Fatalf("accepted without the secret: %q %q %q", authz, date, target)
		}
	})
}

func TestAnswersFor(t *testing.T) {
	a := Answers{
		Mismatch: {Status: 403, Code: "SignatureDoesNotMatch", Message: "fixed"},
		Expired:  {Status: 400, Code: "RequestExpired"},
	}
	tests := []struct {
		reason     Reason
		code, want string
	}{
		{Expired, "RequestExpired", "verifier's"},
		{Mismatch, "SignatureDoesNotMatch", "fixed"},
		{WrongRegion, "SignatureDoesNotMatch", "fixed"}, // not in the table
	}
	for _, tt := range tests {
		got := a.For(&Error{Reason: tt.reason, Message: "verifier's"})
		if got.Code != tt.code || got.Message != tt.want {
			t.Errorf("%v: %+v, want %s %q", tt.reason, got, tt.code, tt.want)
		}
	}
}
