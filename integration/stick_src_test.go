package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// tcpVia connects from source address src to node i's mode tcp frontend,
// sends an HTTP request through it (the demo backends speak HTTP) and
// returns the name of the server that answered.
func tcpVia(t *testing.T, c *daemon.DevCluster, i int, src string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", c.Configs[i].Frontends[1].Bind)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("from %s via n%d: %v", src, i+1, err)
		}
		if v, ok := strings.CutPrefix(line, "X-Backend: "); ok {
			return strings.TrimSpace(v)
		}
	}
}

// waitSrcBound waits until every node binds src to server in backend
// tcpapp, and returns that server ("" server: any, the same everywhere).
func waitSrcBound(t *testing.T, c *daemon.DevCluster, src, server string) string {
	t.Helper()
	key := "src:" + src
	waitFor(t, "one binding of "+key+" everywhere", 10*time.Second, func() bool {
		var first string
		for i, d := range c.Nodes {
			s, ok := d.FSM().Lookup("tcpapp", key)
			if !ok || (server != "" && s != server) || (i > 0 && s != first) {
				return false
			}
			first = s
		}
		server = first
		return true
	})
	return server
}

// Stick on src across three real Raft nodes: a source address balanced on
// one node is routed to the same server by every node; a conflict ends
// with one binding everywhere; a server in maintenance moves its addresses
// to the same new server on every node; a restarted node keeps the table.
func TestTCPStickOnSrcAcrossNodes(t *testing.T) {
	c := startDevWith(t, daemon.DevOptions{TCPStick: &config.Stick{On: "src"}})
	srcs := make([]string, 8)
	bound := map[string]string{}
	for j := range srcs {
		srcs[j] = fmt.Sprintf("127.0.0.%d", 20+j)
		first := tcpVia(t, c, j%3, srcs[j])
		bound[srcs[j]] = waitSrcBound(t, c, srcs[j], first)
	}
	if servers := map[string]bool{}; true {
		for _, s := range bound {
			servers[s] = true
		}
		if len(servers) != 2 {
			t.Fatalf("8 addresses balanced round robin all went to %v", servers)
		}
	}
	for _, src := range srcs {
		for i := range c.Nodes {
			if got := tcpVia(t, c, i, src); got != bound[src] {
				t.Fatalf("%s via n%d went to %s, bound to %s", src, i+1, got, bound[src])
			}
		}
	}

	// Conflict: two nodes learn two servers for one address at once; one
	// binding wins on every node, and every node routes there.
	const conflicted = "127.0.0.99"
	key := "src:" + conflicted
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for i, s := range []string{"A", "B"} {
		go func() { _, err := c.Nodes[i].Learner().Learn(ctx, "tcpapp", key, s, true); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("learn: %v", err)
		}
	}
	winner := waitSrcBound(t, c, conflicted, "")
	for i := range c.Nodes {
		if got := tcpVia(t, c, i, conflicted); got != winner {
			t.Fatalf("conflicted address via n%d went to %s, bound to %s", i+1, got, winner)
		}
	}

	// Restart a node: it keeps the table.
	if err := c.StopNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartNode(2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 serving again", 15*time.Second, func() bool {
		select {
		case <-c.Nodes[2].Serving():
			return true
		default:
			return false
		}
	})
	for _, src := range srcs {
		if got := tcpVia(t, c, 2, src); got != bound[src] {
			t.Fatalf("after restart %s via n3 went to %s, bound to %s", src, got, bound[src])
		}
	}

	// A in maintenance: its addresses go to the same server (rendezvous
	// over the usable ones) on every node, and the bindings follow.
	li := leaderIndex(t, c)
	if _, err := c.Nodes[li].Node().Apply(ctx, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "tcpapp", Name: "A", Admin: fsmpb.AdminState_ADMIN_MAINT}); err != nil {
		t.Fatal(err)
	}
	for _, src := range srcs {
		want := bound[src]
		if want == "A" {
			want = "B"
		}
		for i := range c.Nodes {
			waitFor(t, "maint seen", 5*time.Second, func() bool {
				return c.Nodes[i].FSM().Servers().Get("tcpapp", "A").Admin == fsmpb.AdminState_ADMIN_MAINT
			})
			if got := tcpVia(t, c, i, src); got != want {
				t.Fatalf("%s (bound to %s) via n%d with A in maintenance went to %s, want %s", src, bound[src], i+1, got, want)
			}
		}
		waitSrcBound(t, c, src, want)
	}
}
