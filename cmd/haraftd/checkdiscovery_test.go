package main

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/haraft/haraft/eipmover/discover/dnstest"
	"github.com/haraft/haraft/eipmover/ec2emu"
)

// -check asks every servers_from source once: a tag filter that matches
// no instance, or a DNS name with no record, fails the check at its line;
// tagged instances none of which runs, and a source it cannot ask from
// here (no network, refused credentials, a resolver that fails), are
// warnings.
func TestCheckServersFrom(t *testing.T) {
	awsTestEnv(t, "AKIDCHECKSF", "check-sf-secret")
	emu := ec2emu.New(ec2emu.Options{Seed: 3, Credentials: []ec2emu.Credentials{
		{AccessKey: "AKIDCHECKSF", Secret: "check-sf-secret"}}})
	for _, in := range []ec2emu.Instance{
		{ID: "i-app1", PrivateIP: "10.0.0.1", Tags: map[string]string{"role": "app"}},
		{ID: "i-old1", PrivateIP: "10.0.0.2", Tags: map[string]string{"role": "old"}, State: "stopped"},
		{ID: "i-old2", PrivateIP: "10.0.0.3", Tags: map[string]string{"role": "old"}, State: "stopped"},
		{ID: "i-end", PrivateIP: "10.0.0.4", Tags: map[string]string{"role": "gone"}, State: "terminated"},
	} {
		if err := emu.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	closed := "http://" + freeAddr(t) // nothing listens there

	dns := dnstest.New(t)
	dns.SetA("app.example.test", "10.1.0.1")
	dns.SetA("noa.example.test") // the name exists, with no A record
	failing := dnstest.New(t)
	failing.SetFailing(true)

	base := `node: {id: n1, data_dir: /tmp/n1}
raft: {bind: 127.0.0.1:7001, peers: [{id: n1, addr: 127.0.0.1:7001}]}
http: {addr: 127.0.0.1:9101}
frontends: [{name: web, bind: 127.0.0.1:8001, backend: app}]
backends:
  - name: app
    servers_from:
`
	ec2 := func(role, endpoint string) string {
		return fmt.Sprintf("      ec2:\n        tags: {role: %s}\n        port: 8080\n        region: us-east-1\n        endpoint: %s\n", role, endpoint)
	}
	dnsA := func(name, resolver string) string {
		return fmt.Sprintf("      dns:\n        name: %s\n        port: 8080\n        resolver: %s\n", name, resolver)
	}
	for _, tc := range []struct {
		name, sf string
		wantCode int
		want     []string
	}{
		{"ec2 ok", ec2("app", srv.URL), 0, []string{"c.yaml: ok"}},
		{"ec2 matches nothing", ec2("web", srv.URL), 1,
			[]string{"c.yaml:9: backends[0].servers_from.ec2.tags: the tag filter {role: web} matches no instance: backend app would get no discovered server"}},
		{"ec2 only terminated", ec2("gone", srv.URL), 1,
			[]string{"c.yaml:9: backends[0].servers_from.ec2.tags: the tag filter {role: gone} matches no instance but terminated ones: backend app would get no discovered server"}},
		{"ec2 none running", ec2("old", srv.URL), 0,
			[]string{"warning: c.yaml:9: backends[0].servers_from.ec2.tags: the tag filter {role: old} matches no running instance (2 stopped): backend app has no discovered server until one runs", "c.yaml: ok"}},
		{"ec2 unreachable", ec2("app", closed), 0,
			[]string{"warning: c.yaml:8: backends[0].servers_from.ec2: could not check it from here (the node reports it in /status): ec2 DescribeInstances", "c.yaml: ok"}},
		{"dns ok", dnsA("app.example.test", dns.Addr()), 0, []string{"c.yaml: ok"}},
		{"dns NXDOMAIN", dnsA("nx.example.test", dns.Addr()), 1,
			[]string{"c.yaml:9: backends[0].servers_from.dns.name: A nx.example.test: no such name or no A record"}},
		{"dns no A record", dnsA("noa.example.test", dns.Addr()), 1,
			[]string{"c.yaml:9: backends[0].servers_from.dns.name: A noa.example.test: no such name or no A record"}},
		{"dns SERVFAIL", dnsA("app.example.test", failing.Addr()), 0,
			[]string{"warning: c.yaml:8: backends[0].servers_from.dns: could not check it from here", "on " + failing.Addr() + ": server misbehaving", "c.yaml: ok"}},
		{"both, each checked", ec2("web", srv.URL) + dnsA("nx.example.test", dns.Addr()), 1,
			[]string{"backends[0].servers_from.ec2.tags: the tag filter {role: web} matches no instance", "backends[0].servers_from.dns.name: A nx.example.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, all := runCheck(t, base+tc.sf)
			for _, w := range tc.want {
				if code != tc.wantCode || !strings.Contains(all, w) {
					t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q", code, all, tc.wantCode, w)
				}
			}
		})
	}
}
