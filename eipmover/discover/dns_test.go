package discover

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/haraft/haraft/eipmover/discover/dnstest"
	"github.com/haraft/haraft/fsm"
)

// The DNS source against a real DNS server on loopback: A and SRV
// answers, a name that does not exist (an empty answer), a server
// failure (an error).
func TestDNSSource(t *testing.T) {
	d := dnstest.New(t)
	d.SetA("app.example.test", "10.1.0.2", "10.1.0.1")
	d.SetA("a1.example.test", "10.1.1.1")
	d.SetA("a2.example.test", "10.1.1.2", "10.1.1.3")
	d.SetSRV("_http._tcp.app.example.test",
		dnsmessage.SRVResource{Priority: 1, Weight: 1, Port: 8081, Target: dnsmessage.MustNewName("a1.example.test.")},
		dnsmessage.SRVResource{Priority: 1, Weight: 1, Port: 8082, Target: dnsmessage.MustNewName("a2.example.test.")})
	tests := []struct {
		name    string
		cfg     DNSConfig
		want    []string
		wantErr string
	}{
		{"A", DNSConfig{Name: "app.example.test", Type: "A", Port: 8080}, []string{"10.1.0.1-8080", "10.1.0.2-8080"}, ""},
		{"SRV", DNSConfig{Name: "_http._tcp.app.example.test", Type: "srv"}, []string{"10.1.1.1-8081", "10.1.1.2-8082", "10.1.1.3-8082"}, ""},
		{"no such name", DNSConfig{Name: "nothing.example.test", Type: "A", Port: 80}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Resolver = d.Addr()
			s, err := NewDNS(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tg := range got {
				names = append(names, tg.Name)
				if strings.ReplaceAll(tg.Addr, ":", "-") != tg.Name || !strings.HasPrefix(tg.Cookie, "d") || strings.Contains(tg.Cookie, "10.") {
					t.Errorf("target %+v: want name = addr-port and an opaque cookie", tg)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("got %v, want %v", names, tc.want)
			}
		})
	}
	d.SetFailing(true)
	s, _ := NewDNS(DNSConfig{Name: "app.example.test", Type: "A", Port: 8080, Resolver: d.Addr(), Timeout: 2 * time.Second})
	if _, err := s.Discover(context.Background()); err == nil {
		t.Fatal("SERVFAIL: no error")
	}
	for _, bad := range []DNSConfig{{Type: "A", Port: 1}, {Name: "x", Type: "MX", Port: 1}, {Name: "x", Type: "A"}} {
		if _, err := NewDNS(bad); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

// DNS discovery on three Raft nodes: an address added to the name joins
// every node, one gone drains then leaves, a failing server changes
// nothing.
func TestDNSDiscoveryOnRaft(t *testing.T) {
	d := dnstest.New(t)
	d.SetA("app.example.test", "10.2.0.1", "10.2.0.2")
	c := newTestCluster(t, clusterOpts{delay: 300 * time.Millisecond, share: 1, source: func(t *testing.T) Source {
		s, err := NewDNS(DNSConfig{Name: "app.example.test", Type: "A", Port: 80, Resolver: d.Addr(), Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
	dnsActive := func(s fsm.ServerState) bool { return s.Source == "dns" && s.Usable() }
	c.everywhere("10.2.0.1 added", "10.2.0.1-80", dnsActive)
	c.everywhere("10.2.0.2 added", "10.2.0.2-80", dnsActive)
	d.SetA("app.example.test", "10.2.0.2", "10.2.0.3")
	c.everywhere("10.2.0.3 added", "10.2.0.3-80", dnsActive)
	c.everywhere("10.2.0.1 draining", "10.2.0.1-80", isDraining)
	c.everywhere("10.2.0.1 removed", "10.2.0.1-80", isRemoved)

	d.SetFailing(true)
	d.SetA("app.example.test", "10.2.0.3")
	before := c.leaderStatus().Errors["other"]
	c.waitFor("failed polls", func() bool { return c.leaderStatus().Errors["other"] >= before+2 })
	if s := c.nodes[0].FSM().Servers().Get("app", "10.2.0.2-80"); !dnsActive(s) {
		t.Fatalf("10.2.0.2 changed while DNS failed: %+v", s)
	}
	d.SetFailing(false)
	c.everywhere("10.2.0.2 draining", "10.2.0.2-80", isDraining)
}
