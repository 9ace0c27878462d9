package ec2emu

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/haraft/haraft/eipmover/internal/sigv4"
)

var fuzzNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fuzzEmulator is a small emulator with a fixed clock, two instances and
// two addresses, one associated.
func fuzzEmulator(tb testing.TB) *Emulator {
	e := New(Options{Seed: 1, Now: func() time.Time { return fuzzNow }, Credentials: []Credentials{{AccessKey: testAK, Secret: testSecret}}})
	for _, in := range []Instance{
		{ID: "i-aaaa", AZ: "us-east-1a", ENI: "eni-aaaa", PrivateIP: "10.0.1.10", SecondaryIPs: []string{"10.0.1.11"}},
		{ID: "i-bbbb", AZ: "us-east-1b", ENI: "eni-bbbb", PrivateIP: "10.0.2.10"},
	} {
		if err := e.AddInstance(in); err != nil {
			tb.Fatal(err)
		}
	}
	for _, a := range []Address{
		{AllocationID: "eipalloc-1", PublicIP: "198.51.100.1"},
		{AllocationID: "eipalloc-2", PublicIP: "198.51.100.2", InstanceID: "i-bbbb"},
	} {
		if err := e.AddAddress(a); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// checkEC2Response: a Query API answer is XML; an error answer is EC2's
// error shape with a code and a 4xx/5xx status.
func checkEC2Response(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code < 200 || rec.Code > 599 {
		t.Fatalf("status %d", rec.Code)
	}
	if rec.Code == http.StatusOK {
		if err := xml.Unmarshal(body, new(struct{ XMLName xml.Name })); err != nil {
			t.Fatalf("200 answer is not XML: %v\n%s", err, body)
		}
		return
	}
	var er errorResponse
	if err := xml.Unmarshal(body, &er); err != nil || len(er.Errors) == 0 || er.Errors[0].Code == "" {
		t.Fatalf("error answer %d is not an EC2 error (%v):\n%s", rec.Code, err, body)
	}
}

// checkEmulatorState: whatever the calls, no address has two holders, no
// private address holds two addresses, every holder exists.
func checkEmulatorState(t *testing.T, e *Emulator) {
	t.Helper()
	insts := map[string]bool{}
	for _, in := range e.Instances() {
		insts[in.ID] = true
	}
	assoc := map[string]string{}
	target := map[string]string{}
	for _, a := range e.Addresses() {
		if !a.Associated() {
			if a.InstanceID != "" || a.NetworkInterfaceID != "" {
				t.Fatalf("unassociated address with a holder: %+v", a)
			}
			continue
		}
		if prev, dup := assoc[a.AssociationID]; dup {
			t.Fatalf("association %s on %s and %s", a.AssociationID, prev, a.AllocationID)
		}
		assoc[a.AssociationID] = a.AllocationID
		k := a.NetworkInterfaceID + "/" + a.PrivateIP
		if prev, dup := target[k]; dup {
			t.Fatalf("%s holds both %s and %s", k, prev, a.AllocationID)
		}
		target[k] = a.AllocationID
		if a.InstanceID != "" && !insts[a.InstanceID] {
			t.Fatalf("address held by unknown instance: %+v", a)
		}
	}
}

// serveWithin runs one request and fails if it takes more than limit (an
// input-driven blow-up, like a pathological wildcard).
func serveWithin(t *testing.T, h http.Handler, req *http.Request, limit time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	if d := time.Since(start); d > limit {
		t.Fatalf("%s %s took %v", req.Method, req.URL, d)
	}
	return rec
}

// FuzzQueryRequest: unsigned or badly signed requests, any method, target,
// headers and body: the emulator answers every one with a well-formed EC2
// error, never panics, never changes state.
func FuzzQueryRequest(f *testing.F) {
	f.Add("POST", "/", "Action=DescribeAddresses&Version=2016-11-15", "", "", "application/x-www-form-urlencoded")
	f.Add("GET", "/?Action=DescribeAddresses&Filter.1.Name=public-ip&Filter.1.Value.1=198.*", "", "AWS4-HMAC-SHA256 Credential=AKIDEMUTEST/20250301/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20250301T120000Z", "")
	f.Add("GET", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256", "", "", "", "")
	f.Add("POST", "/%zz", "a=%zz", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e", "x", "")
	f.Add("PUT", "/", "", "", "", "")
	f.Fuzz(func(t *testing.T, method, target, body, authz, amzDate, ctype string) {
		if !validMethod(method) {
			return
		}
		if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, adminPrefix) {
			target = "/" + strings.TrimPrefix(target, adminPrefix)
		}
		req, err := http.NewRequest(method, "http://ec2.test"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		setHeader(req, "Authorization", authz)
		setHeader(req, "X-Amz-Date", amzDate)
		setHeader(req, "Content-Type", ctype)
		e := fuzzEmulator(t)
		before := e.Addresses()
		rec := serveWithin(t, e, req, 2*time.Second)
		checkEC2Response(t, rec)
		if rec.Code == http.StatusOK {
			t.Fatalf("unsigned request succeeded: %s %s authz %q", method, target, authz)
		}
		if after := e.Addresses(); fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("a refused request changed state:\n%v\n%v", before, after)
		}
	})
}

// FuzzSignedQuery: two correctly signed calls with fuzzed parameters (so
// the fuzzer gets past SigV4 into the actions and their parameter
// parsing): every answer is well-formed and the state keeps its
// invariants.
func FuzzSignedQuery(f *testing.F) {
	f.Add("Action=DescribeAddresses&Filter.1.Name=public-ip&Filter.1.Value.1=198.51.100.*", "Action=DescribeInstances&InstanceId.1=i-aaaa")
	f.Add("Action=AssociateAddress&AllocationId=eipalloc-1&InstanceId=i-aaaa", "Action=AssociateAddress&AllocationId=eipalloc-2&NetworkInterfaceId=eni-aaaa&PrivateIpAddress=10.0.1.11&AllowReassociation=true")
	f.Add("Action=AssociateAddress&AllocationId=eipalloc-1&InstanceId=i-bbbb", "Action=DisassociateAddress&AssociationId=eipassoc-x")
	f.Add("Action=AllocateAddress&Domain=vpc", "Action=ReleaseAddress&AllocationId=eipalloc-2")
	f.Add("Action=DescribeAddresses&AllocationId.1=eipalloc-1&PublicIp.2=198.51.100.2&DryRun=true", "Action=DescribeAddresses&Filter.x.Name=y")
	f.Add("Action=DescribeInstances&Filter.1.Name=instance-id&Filter.1.Value.1=*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "Action=Nope")
	f.Fuzz(func(t *testing.T, q1, q2 string) {
		e := fuzzEmulator(t)
		for i, q := range []string{q1, q2} {
			vals, err := url.ParseQuery(q)
			if err != nil {
				continue
			}
			if vals.Get("Version") == "" {
				vals.Set("Version", "2016-11-15")
			}
			body := vals.Encode()
			method := "POST"
			target := "/"
			if i == 1 {
				method, target, body = "GET", "/?"+body, ""
			}
			req, err := http.NewRequest(method, "http://ec2.test"+target, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			}
			creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sigv4.SHA256Hex([]byte(body)), "ec2", testRegion, fuzzNow); err != nil {
				t.Fatal(err)
			}
			rec := serveWithin(t, e, req, 2*time.Second)
			checkEC2Response(t, rec)
			if refusedSignature(rec) {
				t.Fatalf("a correctly signed request was refused: %d %s", rec.Code, rec.Body)
			}
			checkEmulatorState(t, e)
		}
	})
}

// FuzzAdminRequest: the JSON admin API (seed, instances, addresses,
// credentials) refuses malformed bodies with a JSON error and keeps the
// invariants for what it accepts. Faults are left out: a fuzzed latency
// would only make the fuzzer sleep.
func FuzzAdminRequest(f *testing.F) {
	f.Add("seed", `{"instances":[{"id":"i-c","az":"us-east-1c"}],"addresses":[{"allocation_id":"eipalloc-9","public_ip":"198.51.100.9","instance_id":"i-c"}]}`)
	f.Add("addresses", `{"allocation_id":"eipalloc-3","public_ip":"198.51.100.3","network_interface_id":"eni-aaaa","private_ip":"10.0.1.11"}`)
	f.Add("addresses", `{"allocation_id":"eipalloc-4","public_ip":"198.51.100.1"}`)
	f.Add("instances", `{"id":"i-d","eni":"eni-aaaa"}`)
	f.Add("credentials", `{"access_key":"AK","secret":"s","allowed_actions":["DescribeAddresses"]}`)
	f.Add("associations?since=x", "")
	f.Add("seed", `{"faults":{"latency":"1ms"}}`)
	f.Fuzz(func(t *testing.T, route, body string) {
		method := "POST"
		if body == "" {
			method = "GET"
		}
		req, err := http.NewRequest(method, "http://ec2.test"+adminPrefix+route, strings.NewReader(body))
		if err != nil || strings.HasPrefix(req.URL.Path, adminPrefix+"faults") {
			return
		}
		if s, err := ParseSeed([]byte(body)); err == nil && s.Faults != nil && s.Faults.Latency > 0 {
			return
		}
		e := fuzzEmulator(t)
		rec := serveWithin(t, e, req, 2*time.Second)
		if rec.Code >= 300 && rec.Code != http.StatusNoContent {
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("admin error %d is not JSON: %v\n%s", rec.Code, err, rec.Body)
			}
		}
		checkEmulatorState(t, e)
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func setHeader(r *http.Request, k, v string) {
	if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
		r.Header.Set(k, v)
	}
}

// wildcardMatchRecursive is the emulator's former matcher, kept as the
// reference for the linear one.
func wildcardMatchRecursive(pat, s string) bool {
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatchRecursive(pat[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcardMatchRecursive(pat[1:], s[1:])
	case '\\':
		if len(pat) > 1 {
			return s != "" && s[0] == pat[1] && wildcardMatchRecursive(pat[2:], s[1:])
		}
	}
	return s != "" && s[0] == pat[0] && wildcardMatchRecursive(pat[1:], s[1:])
}

// FuzzWildcardMatch: the linear matcher agrees with the recursive
// reference (on short inputs with few stars, where the reference is fast:
// it is exponential in the stars, and an input of twelve stars hung a
// fuzz worker in CI; many stars are TestWildcardManyStarsIsFast's).
func FuzzWildcardMatch(f *testing.F) {
	for _, c := range [][2]string{{"198.51.100.*", "198.51.100.7"}, {"i-?b*", "i-bbbb"}, {`a\*b`, "a*b"}, {`a\`, `a\`}, {"**", ""}, {"*a*b", "xaxb"}, {`\`, ""}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 12 || len(s) > 24 || strings.Count(pat, "*") > 4 {
			return
		}
		if got, want := wildcardMatch(pat, s), wildcardMatchRecursive(pat, s); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v, reference %v", pat, s, got, want)
		}
	})
}

// Found reading the filter code for FuzzSignedQuery: a DescribeAddresses
// or DescribeInstances filter with many stars took time exponential in
// their number, holding the emulator's lock.
func TestWildcardManyStarsIsFast(t *testing.T) {
	start := time.Now()
	if wildcardMatch(strings.Repeat("*a", 30)+"*b", strings.Repeat("a", 4000)) {
		t.Fatal("matched")
	}
	if !wildcardMatch(strings.Repeat("*a", 30)+"*", strings.Repeat("a", 4000)) {
		t.Fatal("did not match")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

// refusedSignature reports an answer refusing the request's credentials or
// signature. EC2 also answers 401 AuthFailure for an address that is not
// the caller's ("The address 'x' does not belong to you."): that is an
// answer about the address, not about the signature.
func refusedSignature(rec *httptest.ResponseRecorder) bool {
	if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden && rec.Code != http.StatusBadRequest {
		return false
	}
	var er errorResponse
	if xml.Unmarshal(rec.Body.Bytes(), &er) != nil || len(er.Errors) == 0 {
		return false
	}
	e := er.Errors[0]
	switch e.Code {
	case "IncompleteSignature", "MissingAuthenticationToken", "RequestExpired", "SignatureDoesNotMatch", "UnauthorizedOperation":
		return true
	case "AuthFailure":
		return !strings.Contains(e.Message, "does not belong to you")
	}
	return false
}
