package ec2emu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func TestAdminAPI(t *testing.T) {
	e := New(Options{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"POST", "/_emu/instances", `{"id":"i-1","az":"us-east-1a","eni":"eni-1","private_ip":"10.0.0.10"}`, 201, `"eni": "eni-1"`},
		{"POST", "/_emu/instances", `{"id":"i-2","az":"us-east-1b"}`, 201, `"eni": "eni-`},
		{"POST", "/_emu/instances", `{"id":"i-1"}`, 409, "already exists"},
		{"POST", "/_emu/instances", `{"id":"i-3","zone":"x"}`, 400, "unknown field"},
		{"POST", "/_emu/addresses", `{"allocation_id":"eipalloc-1","public_ip":"198.51.100.1"}`, 201, `"domain": "vpc"`},
		{"POST", "/_emu/addresses", `{"allocation_id":"eipalloc-2","public_ip":"198.51.100.2","instance_id":"i-1"}`, 201, `"association_id": "eipassoc-`},
		{"POST", "/_emu/addresses", `{"allocation_id":"eipalloc-3","public_ip":"198.51.100.3","instance_id":"i-404"}`, 404, "does not exist"},
		{"POST", "/_emu/addresses", `{"allocation_id":"eipalloc-4","public_ip":"198.51.100.1"}`, 409, "already exists"},
		{"POST", "/_emu/credentials", `{"access_key":"AKIDADMIN","secret":"s3cret","allowed_actions":["DescribeAddresses","AssociateAddress"]}`, 201, "AKIDADMIN"},
		{"GET", "/_emu/credentials", "", 200, "AKIDADMIN"},
		{"POST", "/_emu/faults", `{"latency":"5ms","throttle_every":0,"describe_lag":"1s","actions":["DescribeAddresses"]}`, 200, `"describe_lag": "1s"`},
		{"POST", "/_emu/faults", `{"latency":"soon"}`, 400, "latency"},
		{"POST", "/_emu/faults", `{"throttle_rate":2}`, 400, "outside"},
		{"POST", "/_emu/faults", `{}`, 200, "{}"},
		{"GET", "/_emu/state", "", 200, `"public_ip": "198.51.100.2"`},
		{"GET", "/_emu/associations", "", 200, `"cause": "admin"`},
		{"GET", "/_emu/associations?since=1", "", 200, "[]"},
		{"POST", "/_emu/seed", `{"instances":[{"id":"i-5"}],"addresses":[{"allocation_id":"eipalloc-5","public_ip":"198.51.100.5","instance_id":"i-5"}]}`, 201, "eipalloc-5"},
		{"GET", "/_emu/nope", "", 404, "no admin route"},
	}
	for _, s := range steps {
		status, body := do(s.method, s.path, s.body)
		if status != s.status || !strings.Contains(body, s.contains) {
			t.Fatalf("%s %s %s: %d %s; want %d containing %q", s.method, s.path, s.body, status, body, s.status, s.contains)
		}
	}

	// The state set up over the admin API is what the SDK sees, with the
	// credentials added there.
	f := &fixture{emu: e, srv: srv}
	c := f.client(t, clientOpt{ak: "AKIDADMIN", secret: "s3cret"})
	out, err := c.DescribeAddresses(ctxT(t), &ec2.DescribeAddressesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Addresses) != 3 || aws.ToString(out.Addresses[1].InstanceId) != "i-1" {
		t.Fatalf("%+v", out.Addresses)
	}
	if _, err := c.ReleaseAddress(ctxT(t), &ec2.ReleaseAddressInput{AllocationId: aws.String("eipalloc-1")}); err == nil {
		t.Fatal("ReleaseAddress is outside the key's allowed actions")
	}

	_, body := do("GET", "/_emu/stats", "")
	var stats map[string]CallStats
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if stats["DescribeAddresses"].OK != 1 || stats["ReleaseAddress"].Errors["UnauthorizedOperation"] != 1 {
		t.Fatalf("stats %s", body)
	}
	if status, _ := do("DELETE", "/_emu/stats", ""); status != http.StatusNoContent || len(e.Stats()) != 0 {
		t.Fatalf("reset stats: %d %v", status, e.Stats())
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	in := Faults{Latency: 50 * time.Millisecond, ThrottleEvery: 3, ThrottleRate: 0.1, ServerErrorEvery: 4, ServerErrorRate: 0.2,
		ErrorAfterCommitEvery: 5, ErrorAfterCommitRate: 0.3, DescribeLag: 2 * time.Second, Actions: []string{"AssociateAddress"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Faults
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Latency != in.Latency || out.DescribeLag != in.DescribeLag || out.ThrottleEvery != 3 || out.ErrorAfterCommitRate != 0.3 ||
		len(out.Actions) != 1 || out.Actions[0] != "AssociateAddress" {
		t.Fatalf("%s -> %+v", b, out)
	}
}
