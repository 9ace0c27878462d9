package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
	"github.com/haraft/haraft/proto/fsmpb"
)

// longConn is a long-lived connection through a node's mode tcp frontend,
// carrying keep-alive HTTP requests to a demo backend.
type longConn struct {
	node   int
	conn   net.Conn
	br     *bufio.Reader
	server string
}

// ask sends one request and returns the server that answered.
func (l *longConn) ask() (string, error) {
	_ = l.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(l.conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(l.br, nil)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Backend"), nil
}

// closedByProxy waits (up to a minute) for the proxy to close l.
func (l *longConn) closedByProxy() bool {
	_ = l.conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := l.br.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// drainClosed reads haraft_server_connections_closed_total of tcpapp/A
// with reason drain_deadline from node i's /metrics.
func drainClosed(t *testing.T, c *daemon.DevCluster, i int) int {
	t.Helper()
	resp, err := http.Get("http://" + c.Nodes[i].OpsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "haraft_server_connections_closed_total{") && strings.Contains(line, `backend="tcpapp"`) &&
			strings.Contains(line, `server="A"`) && strings.Contains(line, `reason="drain_deadline"`) {
			var n int
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%d", &n); err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no drain_deadline counter of tcpapp/A in node %d's metrics", i+1)
	return 0
}

// haraftctl drain on real Raft nodes, with long-lived mode tcp
// connections open through every node: without --deadline they stay;
// with --deadline every node closes its connections to the server at the
// deadline, and only those, and counts them.
func TestDrainDeadline(t *testing.T) {
	c := daemontest.StartDev(t, daemon.DevOptions{TCPStick: &config.Stick{On: "src"}})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ok := true
		for _, d := range c.Nodes {
			ok = ok && registered(d.FSM()) == 3
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes did not register")
		}
	}
	e := env(c, followerIndex(t, c))

	// Connections from distinct source addresses (stick on src binds each
	// to the server it was balanced to) through every node, until each
	// node carries some to A and some to B.
	var conns []*longConn
	perNode := map[int]map[string]int{}
	for j := 0; j < 60; j++ {
		i := j % 3
		if perNode[i] == nil {
			perNode[i] = map[string]int{}
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.1.%d", j+10))}, Timeout: 5 * time.Second}
		conn, err := d.Dial("tcp", c.Configs[i].Frontends[1].Bind)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		l := &longConn{node: i, conn: conn, br: bufio.NewReader(conn)}
		if l.server, err = l.ask(); err != nil || l.server == "" {
			t.Fatalf("through n%d: %q %v", i+1, l.server, err)
		}
		conns = append(conns, l)
		perNode[i][l.server]++
		if j >= 5 && len(perNode[0]) == 2 && len(perNode[1]) == 2 && len(perNode[2]) == 2 && perNode[0]["A"]+perNode[1]["A"]+perNode[2]["A"] >= 3 {
			break
		}
	}
	toA := 0
	for _, l := range conns {
		if l.server == "A" {
			toA++
		}
	}
	if toA == 0 || toA == len(conns) {
		t.Fatalf("want connections to A and to B, got %d of %d to A", toA, len(conns))
	}

	// Drain without a deadline: the connections to A stay.
	if r := ctl(e, "drain", "tcpapp/A"); r.code != 0 || strings.Contains(r.stdout, "closed at") {
		t.Fatalf("drain: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, d := range c.Nodes {
		for deadline := time.Now().Add(10 * time.Second); d.FSM().Servers().Get("tcpapp", "A").Admin != fsmpb.AdminState_ADMIN_DRAIN; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("drain not applied everywhere")
			}
		}
	}
	time.Sleep(1 * time.Second) // several checks of the deadline loop
	for _, l := range conns {
		if got, err := l.ask(); err != nil || got != l.server {
			t.Fatalf("a connection to %s through n%d after a drain without deadline: %q %v", l.server, l.node+1, got, err)
		}
	}

	// With a deadline: at it, every node closes its connections to A.
	r := ctl(e, "drain", "tcpapp/A", "--deadline", "2s")
	if r.code != 0 || !strings.Contains(r.stdout, "connections still open are closed at") {
		t.Fatalf("drain --deadline: %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, l := range conns {
		if l.server == "A" && !l.closedByProxy() {
			t.Fatalf("a connection to A through n%d is still open after the deadline", l.node+1)
		}
	}
	for _, l := range conns {
		if l.server == "B" {
			if got, err := l.ask(); err != nil || got != "B" {
				t.Fatalf("a connection to B through n%d after A's deadline: %q %v", l.node+1, got, err)
			}
		}
	}
	total := 0
	for i := range c.Nodes {
		// A node counts the connections it closed once it has closed them
		// all: the clients may see their close first.
		want, n := perNode[i]["A"], 0
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if n = drainClosed(t, c, i); n >= want || time.Now().After(deadline) {
				break
			}
		}
		if n != want {
			t.Errorf("n%d counted %d connections closed at the deadline, carried %d to A", i+1, n, want)
		}
		total += n
	}
	t.Logf("%d connections, %d to A closed at its drain deadline", len(conns), total)

	if r := ctl(e, "drain", "tcpapp/A", "--deadline", "-1s"); r.code != exitUsage {
		t.Errorf("a negative deadline: %d %s", r.code, r.stderr)
	}
	if r := ctl(e, "ready", "tcpapp/A"); r.code != 0 {
		t.Errorf("ready: %d %s", r.code, r.stderr)
	}
}
