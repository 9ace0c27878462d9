package ec2emu

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

func TestIMDSWithSDKClient(t *testing.T) {
	f := newFixture(t, Options{})
	srv := httptest.NewServer(f.emu.IMDSHandler("i-bbbb"))
	defer srv.Close()
	c := imds.New(imds.Options{Endpoint: srv.URL})
	ctx := ctxT(t)

	read := func(path string) string {
		t.Helper()
		out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer out.Content.Close()
		b, err := io.ReadAll(out.Content)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("instance-id"); got != "i-bbbb" {
		t.Fatalf("instance-id %q", got)
	}
	if got := read("placement/availability-zone"); got != "us-east-1b" {
		t.Fatalf("availability-zone %q", got)
	}
	if got := read("placement/region"); got != "us-east-1" {
		t.Fatalf("region %q", got)
	}
	if got := read("local-ipv4"); got != "10.0.2.10" {
		t.Fatalf("local-ipv4 %q", got)
	}
	region, err := c.GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil || region.Region != "us-east-1" {
		t.Fatalf("GetRegion: %v %v", region, err)
	}
	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.InstanceID != "i-bbbb" || doc.AvailabilityZone != "us-east-1b" || doc.Region != "us-east-1" || doc.PrivateIP != "10.0.2.10" || doc.PendingTime.IsZero() {
		t.Fatalf("identity document: %+v", doc.InstanceIdentityDocument)
	}

	// public-ipv4 follows the association.
	if _, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: "public-ipv4"}); err == nil {
		t.Fatal("public-ipv4 before association")
	}
	if err := f.emu.AddAddress(Address{AllocationID: "eipalloc-9", PublicIP: "198.51.100.9", InstanceID: "i-bbbb"}); err != nil {
		t.Fatal(err)
	}
	if got := read("public-ipv4"); got != "198.51.100.9" {
		t.Fatalf("public-ipv4 %q", got)
	}
}

func TestIMDSTokenRules(t *testing.T) {
	f := newFixture(t, Options{})
	srv := httptest.NewServer(f.emu.IMDSHandler("i-aaaa"))
	defer srv.Close()
	do := func(method, path string, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, tok := do("PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
	if status != 200 || tok == "" {
		t.Fatalf("token: %d %q", status, tok)
	}
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
	}{
		{"no token", "GET", "/latest/meta-data/instance-id", nil, 401},
		{"bad token", "GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": "nope"}, 401},
		{"good token", "GET", "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok}, 200},
		{"unknown path", "GET", "/latest/meta-data/nope", map[string]string{"X-aws-ec2-metadata-token": tok}, 404},
		{"token without ttl", "PUT", "/latest/api/token", nil, 400},
		{"token ttl too long", "PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, 400},
		{"token through a proxy", "PUT", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "192.0.2.1"}, 403},
		{"token by GET", "GET", "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := do(tt.method, tt.path, tt.hdr); status != tt.status {
				t.Fatalf("status %d (%q), want %d", status, body, tt.status)
			}
		})
	}
	if _, body := do("GET", "/latest/meta-data/", map[string]string{"X-aws-ec2-metadata-token": tok}); !strings.Contains(body, "instance-id") {
		t.Fatalf("listing %q", body)
	}
	// An unknown instance has no metadata.
	other := httptest.NewServer(f.emu.IMDSHandler("i-gone"))
	defer other.Close()
	c := imds.New(imds.Options{Endpoint: other.URL})
	if _, err := c.GetMetadata(ctxT(t), &imds.GetMetadataInput{Path: "instance-id"}); err == nil {
		t.Fatal("metadata for an unknown instance")
	}
}
