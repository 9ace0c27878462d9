package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// members returns the Raft configuration as node i has it: id -> address.
func members(t *testing.T, c *daemon.DevCluster, i int) map[string]string {
	t.Helper()
	f := c.Nodes[i].Node().Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range f.Configuration().Servers {
		out[string(s.ID)] = string(s.Address)
	}
	return out
}

func leaderIndex(t *testing.T, c *daemon.DevCluster) int {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, d := range c.Nodes {
			if d.Node().IsLeader() {
				return i
			}
		}
	}
	t.Fatal("no leader")
	return -1
}

// TestJoinChecksTheNode: `members join` proposes a member only where
// haraft node ID answers (the cluster's TLS handshake with a certificate
// naming ID, then an internal ping). A closed port, a port of another
// service and another node's certificate are refused and the configuration
// stays as it was; a real node joins; --force adds one that is not up.
func TestJoinChecksTheNode(t *testing.T) {
	c := devCluster(t)
	li := leaderIndex(t, c)
	e := env(c, li)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(web) }()
	t.Cleanup(func() { _ = srv.Close() })

	// Take a follower out, to join it again below.
	vi := (li + 1) % 3
	vid := c.Nodes[vi].Node().ID()
	vaddr := members(t, c, li)[vid]
	if r := ctl(e, "members", "remove", vid); r.code != 0 {
		t.Fatalf("remove %s: exit %d\n%s%s", vid, r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"closed port", []string{"members", "join", "n4", closedAddr}, []string{"join n4 at " + closedAddr + " refused, nothing proposed", "nothing listens at", "--force"}},
		{"an HTTP server", []string{"members", "join", "n4", web.Addr().String()}, []string{"refused, nothing proposed", "does not answer as a haraft node"}},
		{"another node's certificate", []string{"members", "join", "n5", vaddr}, []string{"refused, nothing proposed", `the certificate there is node "` + vid + `"'s, not "n5"'s`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(e, tc.args...)
			if r.code != exitRefused {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, exitRefused, r.stdout, r.stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			m := members(t, c, leaderIndex(t, c))
			if _, ok := m[tc.args[2]]; ok || len(m) != 2 {
				t.Fatalf("configuration changed by a refused join: %v", m)
			}
		})
	}

	// The real node joins again.
	r := ctl(e, "members", "join", vid, vaddr)
	if r.code != 0 || !strings.Contains(r.stdout, vid+" joined at "+vaddr) {
		t.Fatalf("join %s: exit %d\n%s%s", vid, r.code, r.stdout, r.stderr)
	}
	if m := members(t, c, leaderIndex(t, c)); m[vid] != vaddr || len(m) != 3 {
		t.Fatalf("configuration after the join: %v", m)
	}

	// --force adds a node that is not up.
	r = ctl(e, "members", "join", "n4", closedAddr, "--nonvoter", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "n4 joined") {
		t.Fatalf("join --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := members(t, c, leaderIndex(t, c)); m["n4"] != closedAddr {
		t.Fatalf("configuration after join --force: %v", m)
	}
}
