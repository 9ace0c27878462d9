package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// sfBase is base with a second backend whose servers come from EC2; its
// servers_from line is sfLine.
var (
	sfLine = strings.Count(base, "\n") + 3
	sfBase = base + "  - name: pool\n    cookie: {name: SERVERID, mode: insert}\n    servers_from:\n      ec2: {tags: {role: app}, port: 8080}\n"
)

func TestServersFromParse(t *testing.T) {
	c, err := Parse("t.yaml", []byte(sfBase))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Backends[1]
	s := b.ServersFrom
	if len(b.Servers) != 0 || s == nil || s.EC2 == nil || s.EC2.Tags["role"] != "app" || s.EC2.Port != 8080 || s.DNS != nil {
		t.Fatalf("servers_from %+v", s)
	}
	if s.Interval.Duration != 10*time.Second || s.DeregistrationDelay.Duration != 300*time.Second || s.MaxRemoveShare != 0.5 || s.Weight != 1 {
		t.Fatalf("defaults %+v", s)
	}
	if d := c.DiscoveredBackends(); len(d) != 1 || d[0].Name != "pool" {
		t.Fatalf("discovered backends %v", d)
	}
	c, err = Parse("t.yaml", []byte(strings.Replace(sfBase, "ec2: {tags: {role: app}, port: 8080}", "dns: {name: _http._tcp.app.example.com, type: SRV, resolver: 127.0.0.1:53}\n      deregistration_delay: 0s", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Backends[1].ServersFrom; d.DNS.Type != "SRV" || d.DeregistrationDelay.Duration != 0 {
		t.Fatalf("dns %+v", d)
	}
	// ec2 and dns together: two sources of one backend, each polled and
	// reported on its own.
	c, err = Parse("t.yaml", []byte(strings.Replace(sfBase, "port: 8080}", "port: 8080}\n      dns: {name: app.example.com, port: 8080}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Backends[1].ServersFrom; d.EC2 == nil || d.DNS == nil || d.DNS.Type != "A" {
		t.Fatalf("both %+v", d)
	}
}

func TestServersFromErrors(t *testing.T) {
	at := func(n int, rest string) string { return fmt.Sprintf("t.yaml:%d: %s", sfLine+n, rest) }
	with := func(old, new string) string { return strings.Replace(sfBase, old, new, 1) }
	const ec2 = "ec2: {tags: {role: app}, port: 8080}"
	cases := []struct {
		name, yaml, want string
	}{
		{"no source", with(ec2, "interval: 5s"), at(0, "backends[1].servers_from: needs ec2 or dns")},
		{"no tags", with(ec2, "ec2: {port: 8080}"), "backends[1].servers_from.ec2.tags: at least one tag is required"},
		{"empty tags", with(ec2, "ec2: {tags: {}, port: 8080}"), at(1, "backends[1].servers_from.ec2.tags: at least one tag is required")},
		{"empty tag key", with(ec2, `ec2: {tags: {"": app}, port: 8080}`), at(1, `backends[1].servers_from.ec2.tags: tag ""="app": keys are 1..128 characters, values up to 256`)},
		{"long tag value", with(ec2, "ec2: {tags: {role: "+strings.Repeat("v", 257)+"}, port: 8080}"), at(1, "backends[1].servers_from.ec2.tags: tag \"role\"=")},
		{"dns port out of range", with(ec2, "dns: {name: app.example.com, port: 65536}"), at(1, "backends[1].servers_from.dns.port: required: a port 1..65535, got 65536")},
		{"port", with(ec2, "ec2: {tags: {role: app}}"), at(1, "backends[1].servers_from.ec2.port: required: a port 1..65535, got 0")},
		{"port range", with("8080}", "70000}"), "backends[1].servers_from.ec2.port: required: a port 1..65535, got 70000"},
		{"endpoint", with("port: 8080}", "port: 8080, endpoint: localhost:1}"), `backends[1].servers_from.ec2.endpoint: invalid URL "localhost:1"`},
		{"dns name", with(ec2, "dns: {name: app, port: 80}"), `backends[1].servers_from.dns.name: "app" is a single label`},
		{"dns type", with(ec2, "dns: {name: app.example.com, type: MX, port: 80}"), `backends[1].servers_from.dns.type: want A or SRV, got "MX"`},
		{"dns A port", with(ec2, "dns: {name: app.example.com}"), "backends[1].servers_from.dns.port: required: a port 1..65535, got 0"},
		{"dns SRV port", with(ec2, "dns: {name: app.example.com, type: SRV, port: 80}"), "backends[1].servers_from.dns.port: would be ignored: SRV records carry the port"},
		{"resolver", with(ec2, "dns: {name: app.example.com, port: 80, resolver: 127.0.0.1}"), "backends[1].servers_from.dns.resolver: "},
		{"share", with(ec2, ec2+"\n      max_remove_share: 0"), at(2, "backends[1].servers_from.max_remove_share: must be greater than 0 and at most 1, got 0")},
		{"share big", with(ec2, ec2+"\n      max_remove_share: 1.5"), at(2, "backends[1].servers_from.max_remove_share: must be greater than 0 and at most 1, got 1.5")},
		{"delay", with(ec2, ec2+"\n      deregistration_delay: -1s"), at(2, "backends[1].servers_from.deregistration_delay: must be 0..24h0m0s, got -1s")},
		{"interval", with(ec2, ec2+"\n      interval: 1ms"), at(2, "backends[1].servers_from.interval: 1ms is too short")},
		{"weight", with(ec2, ec2+"\n      weight: 300"), at(2, "backends[1].servers_from.weight: must be 1..256, got 300")},
		{"unknown", with(ec2, ec2+"\n      tags: {a: b}"), at(2, "backends[1].servers_from.tags: unknown field (known: ec2, dns, interval, deregistration_delay, max_remove_share, weight)")},
		{"no servers, no servers_from", strings.Replace(base, "    servers:\n      - name: A\n        addr: 127.0.0.1:9001\n      - name: B\n        addr: 127.0.0.1:9002\n", "", 1), "backends[0].servers: at least one server is required"},
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
