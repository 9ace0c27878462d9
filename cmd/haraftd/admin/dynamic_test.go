package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy"
	"github.com/haraft/haraft/proxy/demobackend"
)

// waitAll waits (bounded) until cond holds on every node.
func waitAll(t *testing.T, c *daemon.DevCluster, what string, cond func(d *daemon.Daemon) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := 0
		for _, d := range c.Nodes {
			if cond(d) {
				n++
			}
		}
		if n == len(c.Nodes) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (%d of %d nodes)", what, n, len(c.Nodes))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hit sends one request through node i's proxy, with a session cookie when
// key is set, and returns the server that answered and the session key
// (the one sent, or the one the application set).
func hit(t *testing.T, c *daemon.DevCluster, i int, key string) (server, session string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+c.Nodes[i].Frontends()[0].Addr().String()+"/", nil)
	if key != "" {
		req.Header.Set("Cookie", "JSESSIONID="+key)
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("node %d: %v", i, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("node %d: status %d", i, resp.StatusCode)
	}
	session = key
	for _, ck := range resp.Cookies() {
		if ck.Name == "JSESSIONID" {
			session = ck.Value
		}
	}
	return resp.Header.Get("X-Backend"), session
}

// A server added through the admin API takes new sessions through every
// node's proxy and is health checked; weights set through the admin API
// steer new sessions on every node; once it is removed, its sessions move
// to the same agreed server on every node.
func TestRuntimeServerRoutedOnEveryNode(t *testing.T) {
	c := daemontest.StartDev(t, daemon.DevOptions{Logger: quiet(),
		Check: &config.Check{Inter: config.Duration{Duration: 100 * time.Millisecond}, Rise: 1, Fall: 2}})
	cb, err := demobackend.Start("C", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cb.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sec := c.Security
	wctx, rctx := withToken(ctx, sec.WriteToken), withToken(ctx, sec.ReadToken)
	adm := dialFollowing(t, c, (leaderIndex(t, c)+1)%3, sec.TLS.Client) // a follower: writes are redirected to the leader

	// Added: routable and health checked on every node.
	if _, err := adm.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "C", Addr: cb.Addr()}); err != nil {
		t.Fatal(err)
	}
	// A cookie value already naming a server is refused.
	_, err = adm.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "D", Addr: cb.Addr(), Cookie: "A"})
	wantCode(t, err, codes.AlreadyExists, `cookie value "A" already names server app/A`)
	_, err = adm.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "D", Addr: cb.Addr(), Cookie: "C"})
	wantCode(t, err, codes.AlreadyExists, `cookie value "C" already names server app/C`)
	waitAll(t, c, "C added", func(d *daemon.Daemon) bool {
		st := d.FSM().Servers().Get("app", "C")
		return st.Dynamic && !st.Removed && st.Addr == cb.Addr()
	})
	waitAll(t, c, "C agreed up (every node checks it)", func(d *daemon.Daemon) bool {
		return d.FSM().Servers().Get("app", "C").Health == fsmpb.Health_HEALTH_UP &&
			len(d.FSM().HealthViews("app", "C")) == len(c.Nodes)
	})
	var onC []string // sessions bound to C
	for i := range c.Nodes {
		// Round robin over A, B and C at weight 1: three new sessions
		// go to each server once.
		got := map[string]int{}
		for range 3 {
			server, key := hit(t, c, i, "")
			got[server]++
			if server == "C" {
				onC = append(onC, key)
			}
		}
		if got["A"] != 1 || got["B"] != 1 || got["C"] != 1 {
			t.Fatalf("node %d: three new sessions went to %v, want one each to A, B, C", i, got)
		}
	}
	waitAll(t, c, "sessions on C committed", func(d *daemon.Daemon) bool {
		for _, k := range onC {
			if s, _ := d.FSM().Lookup("app", k); s != "C" {
				return false
			}
		}
		return true
	})
	for _, k := range onC {
		for i := range c.Nodes {
			if server, _ := hit(t, c, i, k); server != "C" {
				t.Fatalf("session %s bound to C answered by %s through node %d", k, server, i)
			}
		}
	}
	// Every node's counters and metrics know C.
	for i, d := range c.Nodes {
		bs, err := dial(t, c, i, sec.TLS.Client).ListBackends(rctx, &adminpb.ListBackendsRequest{Backend: "app"})
		if err != nil {
			t.Fatal(err)
		}
		var sc *adminpb.Server
		for _, s := range bs.Backends[0].Servers {
			if s.Name == "C" {
				sc = s
			}
		}
		if sc == nil || !sc.Dynamic || sc.Addr != cb.Addr() || sc.Requests == 0 || !sc.Usable {
			t.Fatalf("node %d lists C as %v", i, sc)
		}
		metrics := get(t, "http://"+d.OpsAddr()+"/metrics")
		found := false
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "haraft_server_requests_total{") && strings.Contains(line, `server="C"`) && !strings.HasSuffix(line, " 0") {
				found = true
			}
		}
		if !found {
			t.Fatalf("node %d: no requests to server C in the metrics:\n%s", i, metrics)
		}
	}

	// Weights: A and B at 0 send every new session to C.
	for _, s := range []string{"A", "B"} {
		if _, err := adm.SetServerWeight(wctx, &adminpb.SetServerWeightRequest{Backend: "app", Server: s, Weight: 0}); err != nil {
			t.Fatal(err)
		}
	}
	waitAll(t, c, "A and B at weight 0", func(d *daemon.Daemon) bool {
		a, b := d.FSM().Servers().Get("app", "A"), d.FSM().Servers().Get("app", "B")
		return a.WeightSet && a.Weight == 0 && b.WeightSet && b.Weight == 0
	})
	for i := range c.Nodes {
		for range 4 {
			server, key := hit(t, c, i, "")
			if server != "C" {
				t.Fatalf("node %d: new session went to %s with A and B at weight 0", i, server)
			}
			onC = append(onC, key)
		}
	}
	waitAll(t, c, "sessions on C committed", func(d *daemon.Daemon) bool {
		for _, k := range onC {
			if s, _ := d.FSM().Lookup("app", k); s != "C" {
				return false
			}
		}
		return true
	})

	// A server added at run time has no configured weight to go back to.
	_, err = adm.SetServerWeight(wctx, &adminpb.SetServerWeightRequest{Backend: "app", Server: "C", UseConfigured: true})
	wantCode(t, err, codes.InvalidArgument, "no configured weight")

	// Removed: C's sessions move, on every node, to the server rendezvous
	// hashing picks among A and B, and the new binding is committed.
	for _, s := range []string{"A", "B"} {
		if _, err := adm.SetServerWeight(wctx, &adminpb.SetServerWeightRequest{Backend: "app", Server: s, UseConfigured: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.RemoveServer(wctx, &adminpb.RemoveServerRequest{Backend: "app", Server: "C"}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, "C removed, A and B at their configured weight", func(d *daemon.Daemon) bool {
		t := d.FSM().Servers()
		return t.Get("app", "C").Removed && !t.Get("app", "A").WeightSet && !t.Get("app", "B").WeightSet
	})
	before := cb.Requests()
	ab := []*proxy.Server{{Name: "A"}, {Name: "B"}}
	moved := map[string]int{}
	for _, k := range onC {
		want := proxy.Rendezvous(k, ab).Name
		moved[want]++
		for i := range c.Nodes {
			if server, _ := hit(t, c, i, k); server != want {
				t.Fatalf("session %s of removed C: node %d sent it to %s, want %s (rendezvous over A, B)", k, i, server, want)
			}
		}
	}
	if n := cb.Requests(); n != before {
		t.Fatalf("removed server C answered %d more requests", n-before)
	}
	if len(moved) != 2 {
		t.Logf("C's %d sessions all moved to one server: %v", len(onC), moved)
	}
	waitAll(t, c, "C's sessions rebound", func(d *daemon.Daemon) bool {
		for _, k := range onC {
			if s, _ := d.FSM().Lookup("app", k); s != proxy.Rendezvous(k, ab).Name {
				return false
			}
		}
		return true
	})
	waitAll(t, c, "C no longer checked", func(d *daemon.Daemon) bool {
		for _, s := range d.Health().Checking() {
			if strings.HasPrefix(s, "app/C@") {
				return false
			}
		}
		return true
	})

	// A server of the config file exists until removed; removed, it can be
	// added back, and takes new sessions again on every node.
	bAddr := c.Backends[1].Addr()
	_, err = adm.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "B", Addr: bAddr})
	wantCode(t, err, codes.AlreadyExists, "server app/B is in the config file and not removed")
	if _, err := adm.RemoveServer(wctx, &adminpb.RemoveServerRequest{Backend: "app", Server: "B"}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, "B removed", func(d *daemon.Daemon) bool { return d.FSM().Servers().Get("app", "B").Removed })
	for i := range c.Nodes {
		if server, _ := hit(t, c, i, ""); server != "A" {
			t.Fatalf("node %d sent a new session to %s with B removed", i, server)
		}
	}
	if _, err := adm.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "B", Addr: bAddr}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, "B back and agreed up", func(d *daemon.Daemon) bool {
		st := d.FSM().Servers().Get("app", "B")
		return !st.Removed && st.Cookie == "B" && st.Health == fsmpb.Health_HEALTH_UP
	})
	for i := range c.Nodes {
		got := map[string]bool{}
		for range 4 { // roundrobin over A and B
			server, _ := hit(t, c, i, "")
			got[server] = true
		}
		if !got["B"] {
			t.Fatalf("node %d sent no new session to B after it was added back: %v", i, got)
		}
	}
}

// get returns the body of a GET.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
