package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// cmd is one committed server-table command for the tests.
type cmd struct {
	t   fsm.MessageType
	msg proto.Message
}

func add(name, addr, cookie string, weight int32) cmd {
	return cmd{fsm.AddServerType, &fsmpb.AddServer{Backend: "app", Name: name, Addr: addr, Cookie: cookie, Weight: weight}}
}
func remove(name string) cmd {
	return cmd{fsm.RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: name}}
}
func weight(name string, w int32) cmd {
	return cmd{fsm.SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: name, Weight: w}}
}
func configuredWeight(name string) cmd {
	return cmd{fsm.SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: name, UseConfigured: true}}
}
func down(name string) cmd {
	return cmd{fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: name, Health: fsmpb.Health_HEALTH_DOWN}}
}

func applyCmd(t testing.TB, f *fsm.FSM, c cmd) {
	t.Helper()
	data, err := fsm.Encode(c.t, c.msg)
	if err != nil {
		t.Fatal(err)
	}
	if res := f.ApplyCommand(data); res.ErrorCode != "" {
		t.Fatalf("apply %v: %s", c.msg, res.Error)
	}
}

// setBackend has A (weight 1, maxconn 5) and B (weight 2), cookie SRV.
func setBackend(t testing.TB, dynamicKey string) *Backend {
	t.Helper()
	b, err := NewBackend(BackendOptions{Name: "app", Cookie: &CookieOptions{Name: "SRV", Mode: ModeInsert, DynamicKey: dynamicKey},
		Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Cookie: "A", Weight: 1, MaxConn: 5}, {Name: "B", Addr: "127.0.0.1:2", Cookie: "B", Weight: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describe renders servers as name@addr/weight (d: dynamic).
func describe(ss []*Server) string {
	var out []string
	for _, s := range ss {
		d := ""
		if s.Dynamic {
			d = "d"
		}
		out = append(out, fmt.Sprintf("%s@%s/%d%s", s.Name, strings.TrimPrefix(s.Addr, "127.0.0.1:"), s.Weight, d))
	}
	return strings.Join(out, " ")
}

func TestServerSetDerivation(t *testing.T) {
	tests := []struct {
		name       string
		dynamicKey string
		cmds       []cmd
		servers    string            // ServersFor: name@port/weight, d = added at run time
		usable     string            // may take new sessions
		cookies    map[string]string // insert cookie value → server it routes to ("" : none, balanced)
		check      func(t *testing.T, b *Backend, sets []*serverSet)
	}{
		{name: "configured only", servers: "A@1/1 B@2/2", usable: "A@1/1 B@2/2",
			cookies: map[string]string{"A": "A", "B": "B", "C": ""},
			check: func(t *testing.T, b *Backend, sets []*serverSet) {
				if sets[0].byName["A"] != b.Servers[0] || sets[0].byName["B"] != b.Servers[1] {
					t.Error("the configured *Servers are not the ones routed to")
				}
			}},
		{name: "added", cmds: []cmd{add("C", "127.0.0.1:3", "", 3)},
			servers: "A@1/1 B@2/2 C@3/3d", usable: "A@1/1 B@2/2 C@3/3d",
			cookies: map[string]string{"A": "A", "C": "C"},
			check: func(t *testing.T, b *Backend, sets []*serverSet) {
				// Adding C changes neither A nor B: same objects, same pools.
				if sets[1].byName["A"] != b.Servers[0] || sets[1].byName["B"] != b.Servers[1] {
					t.Error("configured servers were rebuilt by an unrelated change")
				}
				if c := sets[1].byName["C"]; c.pool == nil || c.pool.Addr() != "127.0.0.1:3" || c.slots != nil {
					t.Errorf("added server's pool %+v", c.pool)
				}
			}},
		{name: "added with its own cookie", cmds: []cmd{add("C", "127.0.0.1:3", "c3", 1)},
			servers: "A@1/1 B@2/2 C@3/1d", usable: "A@1/1 B@2/2 C@3/1d",
			cookies: map[string]string{"c3": "C", "C": ""}},
		{name: "added ones sort by name after the configured", cmds: []cmd{add("Z", "127.0.0.1:9", "", 1), add("C", "127.0.0.1:3", "", 1)},
			servers: "A@1/1 B@2/2 C@3/1d Z@9/1d", usable: "A@1/1 B@2/2 C@3/1d Z@9/1d"},
		{name: "dynamic cookie key", dynamicKey: "k", cmds: []cmd{add("C", "127.0.0.1:3", "c3", 1)},
			servers: "A@1/1 B@2/2 C@3/1d", usable: "A@1/1 B@2/2 C@3/1d",
			cookies: map[string]string{DynamicCookie("k", "app", "C"): "C", DynamicCookie("k", "app", "A"): "A", "c3": "", "A": ""}},
		{name: "removed", cmds: []cmd{add("C", "127.0.0.1:3", "", 1), remove("C")},
			servers: "A@1/1 B@2/2", usable: "A@1/1 B@2/2",
			// C's sessions are reassigned by rendezvous over the usable
			// servers, not balanced as unknown.
			cookies: map[string]string{"C": "rendezvous"}},
		{name: "configured server removed", cmds: []cmd{remove("A")},
			servers: "B@2/2", usable: "B@2/2", cookies: map[string]string{"A": "rendezvous", "B": "B"}},
		{name: "a live server's cookie wins over a removed one's", cmds: []cmd{remove("A"), add("D", "127.0.0.1:5", "A", 1)},
			servers: "B@2/2 D@5/1d", usable: "B@2/2 D@5/1d", cookies: map[string]string{"A": "D"}},
		{name: "re-added at another address", cmds: []cmd{add("C", "127.0.0.1:3", "", 1), remove("C"), add("C", "127.0.0.1:4", "", 2)},
			servers: "A@1/1 B@2/2 C@4/2d", usable: "A@1/1 B@2/2 C@4/2d", cookies: map[string]string{"C": "C"},
			check: func(t *testing.T, b *Backend, sets []*serverSet) {
				old, removed, now := sets[1].byName["C"], sets[2].byName["C"], sets[3].byName["C"]
				if removed.serverRuntime != old.serverRuntime {
					t.Error("removing C dropped its pool while its sessions are still being reassigned")
				}
				if now.serverRuntime == old.serverRuntime || now.pool.Addr() != "127.0.0.1:4" {
					t.Errorf("C re-added at :4 kept the pool of :3 (%s)", now.pool.Addr())
				}
			}},
		{name: "re-added at the same address keeps its pool", cmds: []cmd{add("C", "127.0.0.1:3", "", 1), remove("C"), add("C", "127.0.0.1:3", "", 1)},
			servers: "A@1/1 B@2/2 C@3/1d", usable: "A@1/1 B@2/2 C@3/1d",
			check: func(t *testing.T, b *Backend, sets []*serverSet) {
				if sets[3].byName["C"].serverRuntime != sets[1].byName["C"].serverRuntime {
					t.Error("C re-added at the same address got a new pool")
				}
			}},
		{name: "weight override", cmds: []cmd{weight("A", 7)},
			servers: "A@1/7 B@2/2", usable: "A@1/7 B@2/2",
			check: func(t *testing.T, b *Backend, sets []*serverSet) {
				a := sets[1].byName["A"]
				if a == b.Servers[0] || a.serverRuntime != b.Servers[0].serverRuntime || a.slots == nil {
					t.Error("a new weight must make a new view sharing the pool, counters and maxconn")
				}
				if b.Servers[0].Weight != 1 {
					t.Error("the configured server was modified")
				}
			}},
		{name: "weight 0: no new sessions, keeps its sticky ones", cmds: []cmd{weight("A", 0)},
			servers: "A@1/0 B@2/2", usable: "B@2/2", cookies: map[string]string{"A": "A", "B": "B"}},
		{name: "weight 0 everywhere: no server", cmds: []cmd{weight("A", 0), weight("B", 0)},
			servers: "A@1/0 B@2/0", usable: "", cookies: map[string]string{"A": "A"}},
		{name: "weight of an added server", cmds: []cmd{add("C", "127.0.0.1:3", "", 1), weight("A", 0), weight("B", 0), weight("C", 9)},
			servers: "A@1/0 B@2/0 C@3/9d", usable: "C@3/9d", cookies: map[string]string{"A": "A", "B": "B", "C": "C"}},
		{name: "weight back to configured", cmds: []cmd{weight("B", 5), configuredWeight("B")},
			servers: "A@1/1 B@2/2", usable: "A@1/1 B@2/2"},
		{name: "added server agreed down", cmds: []cmd{add("C", "127.0.0.1:3", "", 1), down("C")},
			servers: "A@1/1 B@2/2 C@3/1d", usable: "A@1/1 B@2/2", cookies: map[string]string{"C": "rendezvous"}},
		{name: "another backend's servers", cmds: []cmd{{fsm.AddServerType, &fsmpb.AddServer{Backend: "other", Name: "C", Addr: "127.0.0.1:3", Weight: 1}}},
			servers: "A@1/1 B@2/2", usable: "A@1/1 B@2/2", cookies: map[string]string{"C": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setBackend(t, tc.dynamicKey)
			f := fsm.New(nil)
			sets := []*serverSet{b.setFor(f.Servers())}
			for _, c := range tc.cmds {
				applyCmd(t, f, c)
				sets = append(sets, b.setFor(f.Servers()))
			}
			set := sets[len(sets)-1]
			if got := describe(b.ServersFor(f.Servers())); got != tc.servers {
				t.Errorf("servers %q, want %q", got, tc.servers)
			}
			if got := describe(b.usableFor(f.Servers())); got != tc.usable {
				t.Errorf("usable %q, want %q", got, tc.usable)
			}
			for v, want := range tc.cookies {
				r, err := b.route(f, nil, []string{"SRV=" + v}, "198.18.0.1")
				switch want {
				case "":
					if r.viaCookie || r.reassigned {
						t.Errorf("cookie %s routed by cookie to %s, want balanced", v, r.server.Name)
					}
				case "rendezvous":
					if err != nil || !r.reassigned || r.server != Rendezvous(v, set.usable) {
						t.Errorf("cookie %s: %+v %v, want reassigned to %s", v, r, err, Rendezvous(v, set.usable).Name)
					}
				default:
					if err != nil || !r.viaCookie || r.server.Name != want {
						t.Errorf("cookie %s: %+v %v, want %s", v, r, err, want)
					}
				}
			}
			if len(set.usable) == 0 {
				if _, err := b.route(f, nil, nil, "198.18.0.1"); err != errNoServer {
					t.Errorf("no usable server: route gave %v", err)
				}
			}
			if tc.check != nil {
				tc.check(t, b, sets)
			}
		})
	}
}

// Round robin follows the agreed weights, and new sessions go only to the
// servers with a weight.
func TestRoundRobinFollowsAgreedWeights(t *testing.T) {
	b := setBackend(t, "")
	f := fsm.New(nil)
	count := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			r, err := b.route(f, nil, nil, "198.18.0.1")
			if err != nil {
				t.Fatal(err)
			}
			got[r.server.Name]++
		}
		return got
	}
	if got := count(300); got["A"] != 100 || got["B"] != 200 {
		t.Fatalf("configured weights 1:2 gave %v", got)
	}
	applyCmd(t, f, weight("B", 3))
	applyCmd(t, f, add("C", "127.0.0.1:3", "", 4))
	if got := count(800); got["A"] != 100 || got["B"] != 300 || got["C"] != 400 {
		t.Fatalf("weights 1:3:4 gave %v", got)
	}
	applyCmd(t, f, weight("A", 0))
	applyCmd(t, f, weight("B", 0))
	if got := count(50); got["C"] != 50 {
		t.Fatalf("A and B at weight 0 gave %v", got)
	}
	applyCmd(t, f, remove("C"))
	if _, err := b.route(f, nil, nil, "198.18.0.1"); err != errNoServer {
		t.Fatalf("only weight-0 servers left: %v, want no server", err)
	}
}

// The request path derives the set once per table: routing allocates
// nothing, also with servers added at run time.
func TestRouteAllocsWithRuntimeServers(t *testing.T) {
	b := setBackend(t, "")
	f := fsm.New(nil)
	applyCmd(t, f, add("C", "127.0.0.1:3", "", 1))
	applyCmd(t, f, weight("A", 3))
	lines := []string{"SRV=C"}
	b.route(f, nil, lines, "198.18.0.1")
	if n := testing.AllocsPerRun(200, func() {
		if r, err := b.route(f, nil, lines, "198.18.0.1"); err != nil || r.server.Name != "C" {
			t.Fatal(r, err)
		}
		if _, err := b.route(f, nil, nil, "198.18.0.1"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per route", n)
	}
}

// Requests routed while servers are added, removed and reweighted (run
// with -race).
func TestServerSetConcurrentChanges(t *testing.T) {
	b := setBackend(t, "")
	f := fsm.New(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines := []string{"SRV=C"}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.route(f, nil, lines[:i%2], fmt.Sprint(g))
				if err == nil {
					r.server.Active() // touch the shared counters
					_ = r.server.Weight
				}
				_ = b.Server("C")
				_ = b.ServersFor(f.Servers())
			}
		}()
	}
	for i := range 200 {
		applyCmd(t, f, add("C", fmt.Sprintf("127.0.0.1:%d", 3+i%2), "", int32(1+i%3)))
		applyCmd(t, f, weight("A", int32(i%4)))
		if i%3 == 0 {
			applyCmd(t, f, remove("C"))
		}
	}
	close(stop)
	wg.Wait()
	b.Close()
}

// The health monitor checks the servers added at run time, stops checking
// the removed ones, and checks a server re-added elsewhere at its new
// address with a fresh view.
func TestHealthMonitorFollowsServers(t *testing.T) {
	up := rawBackend(t, func(c net.Conn) { c.Close() }) // accepts: a TCP check passes
	b, err := NewBackend(BackendOptions{Name: "app", Servers: []ServerOptions{{Name: "A", Addr: up, Weight: 1}},
		Check: &HealthCheck{Inter: 20 * time.Millisecond, FastInter: 20 * time.Millisecond, DownInter: 20 * time.Millisecond,
			Timeout: time.Second, Rise: 1, Fall: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	var mu sync.Mutex
	var views []*fsmpb.HealthView
	m := NewHealthMonitor("n1", []*Backend{b}, &fakeCluster{views: func(vs []*fsmpb.HealthView) {
		mu.Lock()
		views = append(views, vs...)
		mu.Unlock()
	}}, slog.New(slog.DiscardHandler))
	m.FollowServers(f.Servers, 10*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (checking %v)", what, m.Checking())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	checking := func(want string) func() bool {
		return func() bool { return strings.Join(m.Checking(), " ") == want }
	}
	viewOf := func(server string, h fsmpb.Health, after int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, v := range views[min(after, len(views)):] {
				if v.Server == server && v.Health == h {
					return true
				}
			}
			return false
		}
	}
	nviews := func() int { mu.Lock(); defer mu.Unlock(); return len(views) }

	waitFor("A checked", checking("app/A@"+up))
	waitFor("A seen up", viewOf("A", fsmpb.Health_HEALTH_UP, 0))

	applyCmd(t, f, add("C", up, "", 1))
	waitFor("C checked", checking("app/A@"+up+" app/C@"+up))
	waitFor("C seen up", viewOf("C", fsmpb.Health_HEALTH_UP, 0))

	// Re-added at a closed port: checked there, from a fresh view.
	applyCmd(t, f, remove("C"))
	waitFor("C no longer checked", checking("app/A@"+up))
	n := nviews()
	applyCmd(t, f, add("C", "127.0.0.1:1", "", 1))
	waitFor("C checked at its new address", checking("app/A@"+up+" app/C@127.0.0.1:1"))
	waitFor("C seen down at its new address", viewOf("C", fsmpb.Health_HEALTH_DOWN, n))

	applyCmd(t, f, remove("A"))
	waitFor("A no longer checked", checking("app/C@127.0.0.1:1"))
}
