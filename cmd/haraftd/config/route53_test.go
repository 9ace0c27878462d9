package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// r53Base is eipBase plus a route53 section; the section's first line is
// r53Line.
var (
	r53Line = strings.Count(eipBase, "\n") + 1
	r53Base = eipBase + "route53:\n  hosted_zone_id: Z0HARAFT\n  name: lb.example.com\n"
)

func TestRoute53Parse(t *testing.T) {
	c, err := Parse("t.yaml", []byte(r53Base))
	if err != nil {
		t.Fatal(err)
	}
	want := &Route53{HostedZoneID: "Z0HARAFT", Name: "lb.example.com", TTL: 60, Region: "us-east-1", ReconcileInterval: Duration{10 * time.Second}}
	if !reflect.DeepEqual(c.Route53, want) {
		t.Fatalf("route53 = %+v, want %+v", c.Route53, want)
	}
	if got := c.RecordEIPs(); !reflect.DeepEqual(got, c.EIPs) {
		t.Errorf("default addresses: %v, want every EIP", got)
	}

	c, err = Parse("t.yaml", []byte(r53Base+"  ttl: 30\n  addresses: [198.51.100.8]\n  region: eu-west-1\n  endpoint: http://127.0.0.1:4567\n  reconcile_interval: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Route53
	if r.TTL != 30 || r.Region != "eu-west-1" || r.Endpoint != "http://127.0.0.1:4567" || r.ReconcileInterval.Duration != 2*time.Second {
		t.Errorf("route53 = %+v", r)
	}
	if got := c.RecordEIPs(); len(got) != 1 || got[0].ID != "eipalloc-0api" {
		t.Errorf("addresses [198.51.100.8]: %v", got)
	}
	// By id, and the keyword.
	c, err = Parse("t.yaml", []byte(r53Base+"  addresses: [eipalloc-0web]\n"))
	if err != nil || len(c.RecordEIPs()) != 1 || c.RecordEIPs()[0].Address != "198.51.100.7" {
		t.Errorf("addresses by id: %v %v", err, c)
	}
	c, err = Parse("t.yaml", []byte(r53Base+"  addresses: eips\n"))
	if err != nil || len(c.RecordEIPs()) != 2 {
		t.Errorf("addresses: eips: %v %v", err, c)
	}
	if c, err := Parse("t.yaml", []byte(eipBase)); err != nil || c.Route53 != nil || c.RecordEIPs() != nil {
		t.Errorf("no route53 section: %v %+v", err, c)
	}
}

func TestRoute53Errors(t *testing.T) {
	at := func(n int, rest string) string { return fmt.Sprintf("t.yaml:%d: %s", r53Line+n, rest) }
	cases := []struct {
		name, yaml, want string
	}{
		{"zone id syntax", strings.Replace(r53Base, "Z0HARAFT", "zone-1", 1), at(1, `route53.hosted_zone_id: "zone-1" is not a hosted zone id`)},
		{"zone id missing", strings.Replace(r53Base, "  hosted_zone_id: Z0HARAFT\n", "", 1), at(0, "route53.hosted_zone_id: required")},
		{"name single label", strings.Replace(r53Base, "lb.example.com", "lb", 1), at(2, `route53.name: "lb" is a single label`)},
		{"name empty label", strings.Replace(r53Base, "lb.example.com", "lb..example.com", 1), at(2, "route53.name: \"lb..example.com\" has an empty label")},
		{"name bad char", strings.Replace(r53Base, "lb.example.com", "l b.example.com", 1), at(2, "route53.name: \"l b.example.com\": label \"l b\" has ' '")},
		{"name long label", strings.Replace(r53Base, "lb.example.com", strings.Repeat("a", 64)+".example.com", 1), at(2, "route53.name: \""+strings.Repeat("a", 64)+".example.com\" has a label longer than 63 characters")},
		{"name hyphen", strings.Replace(r53Base, "lb.example.com", "-lb.example.com", 1), at(2, `route53.name: "-lb.example.com": label "-lb" starts or ends with '-'`)},
		{"ttl zero", r53Base + "  ttl: 0\n", at(3, "route53.ttl: must be 1..2147483647 seconds, got 0")},
		{"ttl too big", r53Base + "  ttl: 2147483648\n", at(3, "route53.ttl: must be 1..2147483647 seconds")},
		{"ttl string", r53Base + "  ttl: soon\n", at(3, `route53.ttl: invalid integer "soon"`)},
		{"address not an eip", r53Base + "  addresses: [192.0.2.1]\n", at(3, `route53.addresses[0]: "192.0.2.1" is not a configured EIP (eips: 198.51.100.7, 198.51.100.8)`)},
		{"address twice", r53Base + "  addresses: [198.51.100.7, eipalloc-0web]\n", at(3, "route53.addresses[1]: EIP eipalloc-0web listed twice")},
		{"addresses keyword", r53Base + "  addresses: all\n", at(3, `route53.addresses: want "eips" or a list`)},
		{"endpoint", r53Base + "  endpoint: localhost:4567\n", at(3, `route53.endpoint: invalid URL "localhost:4567"`)},
		{"interval", r53Base + "  reconcile_interval: 0s\n", at(3, "route53.reconcile_interval: must be greater than 0")},
		{"unknown field", r53Base + "  zone: Z1\n", at(3, "route53.zone: unknown field (known: hosted_zone_id, name, ttl, addresses, region, endpoint, reconcile_interval)")},
		{"ipv6 eip", strings.Replace(r53Base, "198.51.100.8", "2001:db8::8", 1), "route53.addresses: EIP eipalloc-0api (2001:db8::8) is not an IPv4 address"},
		{"no eips", base + "route53: {hosted_zone_id: Z1, name: lb.example.com}\n", fmt.Sprintf("t.yaml:%d: route53: needs eips", strings.Count(base, "\n")+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestRoute53RestartOnly(t *testing.T) {
	old, err := Parse("t.yaml", []byte(r53Base))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Parse("t.yaml", []byte(r53Base+"  ttl: 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := old.ReloadErrors(next); err == nil || !strings.Contains(err.Error(), "route53") {
		t.Fatalf("a reload changing route53: %v", err)
	}
}
