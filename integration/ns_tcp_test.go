//go:build integration && linux

package integration

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/integration/nsharness"
)

// Long-lived mode tcp connections, stuck on their source address, through
// the VIP: the VIP's holder dies, its connections die with it, and every
// client reconnecting to the VIP on its new holder lands on its old
// server, because the bindings were replicated through Raft.

const (
	tcpClients  = 500 // connections through the VIP, one source address each
	tcpControls = 12  // connections to the other nodes' own addresses
	tcpPing     = time.Second
)

// tcpSources holds the clients' source addresses (ClientSources).
var tcpSources = netip.MustParsePrefix("198.18.4.0/22")

// tcpLink is one long-lived client connection through a mode tcp
// frontend to a backend's TCP name server: it reads the server's name,
// then sends a numbered line every tcpPing and reads the echoes.
type tcpLink struct {
	src    netip.Addr
	server string // as the server named itself on connect
	conn   net.Conn
	done   chan struct{} // closed once the connection ended

	mu       sync.Mutex
	sent     []time.Time // when each numbered line was written
	lastEcho time.Time   // when the newest echoed line was written
	echoes   int
	end      error
	endAt    time.Time
}

// dialTCPLink connects from src to addr, reads the server's name (within
// nameTimeout) and starts the pings.
func dialTCPLink(ctx context.Context, c *nsharness.Cluster, src netip.Addr, addr string, dialTimeout, nameTimeout time.Duration) (*tcpLink, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, err := c.Client.DialTCPFrom(dctx, src, addr)
	cancel()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(nameTimeout))
	name, err := br.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("from %s to %s: reading the server's name: %w", src, addr, err)
	}
	l := &tcpLink{src: src, server: strings.TrimSpace(name), conn: conn, done: make(chan struct{})}
	go l.read(br)
	go l.write()
	return l, nil
}

func (l *tcpLink) write() {
	// Spread the clients' pings over the interval.
	first := time.NewTimer(rand.N(tcpPing))
	select {
	case <-l.done:
		first.Stop()
		return
	case <-first.C:
	}
	tick := time.NewTicker(tcpPing)
	defer tick.Stop()
	for {
		l.mu.Lock()
		seq := len(l.sent)
		l.sent = append(l.sent, time.Now())
		l.mu.Unlock()
		if _, err := fmt.Fprintf(l.conn, "%d\n", seq); err != nil {
			return // the reader sees the connection end too
		}
		select {
		case <-l.done:
			return
		case <-tick.C:
		}
	}
}

func (l *tcpLink) read(br *bufio.Reader) {
	var err error
	for {
		_ = l.conn.SetReadDeadline(time.Now().Add(tcpPing + 10*time.Second))
		var line string
		if line, err = br.ReadString('\n'); err != nil {
			break
		}
		seq, perr := strconv.Atoi(strings.TrimSpace(line))
		l.mu.Lock()
		if perr != nil || seq < 0 || seq >= len(l.sent) {
			l.mu.Unlock()
			err = fmt.Errorf("echo %q is no line this client sent", line)
			break
		}
		if w := l.sent[seq]; w.After(l.lastEcho) {
			l.lastEcho = w
		}
		l.echoes++
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.end, l.endAt = err, time.Now()
	l.mu.Unlock()
	l.conn.Close()
	close(l.done)
}

// state returns how many echoes came back, the write time of the newest
// line echoed, and when and why the connection ended (zero while open).
func (l *tcpLink) state() (echoes int, lastEcho, endAt time.Time, end error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.echoes, l.lastEcho, l.endAt, l.end
}

func (l *tcpLink) close() {
	l.conn.Close()
	<-l.done
}

// openTCPLinks connects from each of srcs to addr(i), all at once,
// retrying each for up to 30 s (a loaded machine may be slow once).
func openTCPLinks(t *testing.T, c *nsharness.Cluster, srcs []netip.Addr, addr func(i int) string) []*tcpLink {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	links := make([]*tcpLink, len(srcs))
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Go(func() {
			for {
				links[i], errs[i] = dialTCPLink(ctx, c, src, addr(i), 2*time.Second, 5*time.Second)
				if errs[i] == nil || ctx.Err() != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s -> %s: %v", srcs[i], addr(i), err))
		}
	}
	t.Cleanup(func() {
		for _, l := range links {
			if l != nil {
				l.close()
			}
		}
	})
	if len(failed) > 0 {
		t.Fatalf("%d of %d connections failed:\n%s", len(failed), len(srcs), strings.Join(first(failed, 10), "\n"))
	}
	return links
}

// waitTCPBindings waits until every node's own stick table binds each
// link's source address to the server the link reached.
func waitTCPBindings(t *testing.T, c *nsharness.Cluster, links []*tcpLink) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	var problems []string
	for {
		problems = problems[:0]
		for _, n := range c.Nodes {
			b, err := n.Bindings(ctx, "tcpapp")
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			missing, wrong := 0, 0
			for _, l := range links {
				switch s, ok := b["src:"+l.src.String()]; {
				case !ok:
					missing++
				case s != l.server:
					wrong++
					problems = append(problems, fmt.Sprintf("%s binds %s to %s, its connection reached %s", n.ID, l.src, s, l.server))
				}
			}
			if missing > 0 {
				problems = append(problems, fmt.Sprintf("%s: %d of %d source addresses not bound yet", n.ID, missing, len(links)))
			}
		}
		if len(problems) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("stick tables not replicated: %s", strings.Join(first(problems, 10), "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The VIP's holder is killed (kill -9 of haraftd) while it carries 500
// long-lived mode tcp connections from 500 source addresses, stuck on
// source (stick on src). Its connections die (none passes a byte written
// after the kill); connections to the other nodes' own addresses go on;
// every client reconnects to the VIP on its new holder and lands on its
// old server: the bindings, committed on every node before the kill,
// survive their node.
func TestNSTCPStickVIPKill(t *testing.T) {
	c, _ := nsCluster(t, nsharness.ClusterSpec{VIP: testVIP, VIPLease: 500 * time.Millisecond, TCPStick: true}, 0)
	holder, err := c.WaitVIPHolder(ctxT(t, 15*time.Second), nil)
	if err != nil {
		t.Skipf("skipping: no node took the VIP within 15s (is the VIP mover wired into haraftd? eips:/eip_mover: kind vip): %v", err)
	}
	srcs, err := c.ClientSources(tcpSources, tcpClients+tcpControls)
	if err != nil {
		t.Fatal(err)
	}
	vip := fmt.Sprintf("%s:%d", testVIP, nsharness.TCPPort)
	others := c.Others(holder)
	links := openTCPLinks(t, c, srcs[:tcpClients], func(int) string { return vip })
	control := openTCPLinks(t, c, srcs[tcpClients:], func(i int) string {
		return fmt.Sprintf("%s:%d", others[i%len(others)].IP, nsharness.TCPPort)
	})
	perServer := map[string]int{}
	for _, l := range links {
		perServer[l.server]++
	}
	t.Logf("%d connections through the VIP on %s: per server %v; %d control connections to %v", len(links), holder.ID, perServer, len(control), ids(others))
	if len(perServer) < 2 {
		t.Fatalf("round robin put every connection on one server (%v): a wrong server could not be told apart", perServer)
	}
	// Replicated stickiness, not luck: every node binds every address.
	waitTCPBindings(t, c, append(slices.Clone(links), control...))

	type result struct {
		after  time.Duration // from the kill until the server's name came back
		server string
		link   *tcpLink
		err    error
	}
	results := make([]result, len(links))
	var wg sync.WaitGroup
	var t0 time.Time
	kill := make(chan struct{}) // closed once t0 is set
	reconnectBy := ctxT(t, 120*time.Second)
	for i, l := range links {
		wg.Go(func() {
			<-l.done
			<-kill
			ctx, cancel := context.WithDeadline(reconnectBy, t0.Add(90*time.Second))
			defer cancel()
			var err error
			for ctx.Err() == nil {
				var nl *tcpLink
				// A client that reconnects within the few milliseconds the
				// killed process takes to die completes its handshake with
				// the dying node's kernel, and may then get neither a reset
				// nor a byte: like a real client, it gives up on a silent
				// connection after a second and dials again (with 5 s the
				// test measured its own timeout: p99 5 s in some runs).
				if nl, err = dialTCPLink(ctx, c, l.src, vip, 500*time.Millisecond, time.Second); err == nil {
					results[i] = result{after: time.Since(t0), server: nl.server, link: nl}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			results[i].err = fmt.Errorf("%s not reconnected within 90s: %w", l.src, err)
		})
	}
	t0 = time.Now()
	close(kill)
	if err := holder.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now() // no line written from here on can pass the dead holder
	nh, err := c.WaitVIPHolder(ctxT(t, 15*time.Second), holder)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VIP holder %s killed (kill -9): %s holds the VIP after %v", holder.ID, nh.ID, time.Since(t0).Round(time.Millisecond))
	wg.Wait()
	reconnected := time.Now()

	var wrong, failed, early, after []string
	var times []time.Duration
	for i, l := range links {
		_, last, endAt, end := l.state()
		if endAt.Before(t0) {
			early = append(early, fmt.Sprintf("%s ended at %s, before the kill: %v", l.src, endAt.Format("15:04:05.000"), end))
		}
		if last.After(killed) {
			after = append(after, fmt.Sprintf("%s echoed a line written %v after the kill", l.src, last.Sub(killed)))
		}
		r := results[i]
		if r.err != nil {
			failed = append(failed, r.err.Error())
			continue
		}
		t.Cleanup(r.link.close)
		times = append(times, r.after)
		if r.server != l.server {
			wrong = append(wrong, fmt.Sprintf("%s: was on %s, reconnected to %s", l.src, l.server, r.server))
		}
	}
	slices.Sort(times)
	if len(times) > 0 {
		q := func(p int) time.Duration { return times[len(times)*p/100].Round(time.Millisecond) }
		t.Logf("reconnects: %d of %d; time from the kill p50 %v, p90 %v, p99 %v, max %v; wrong-server reconnects %d",
			len(times), len(links), q(50), q(90), q(99), times[len(times)-1].Round(time.Millisecond), len(wrong))
	}
	if len(early) > 0 {
		t.Errorf("%d connections through the VIP ended before the kill:\n%s", len(early), strings.Join(first(early, 10), "\n"))
	}
	if len(after) > 0 {
		t.Errorf("%d connections through the killed holder still passed bytes:\n%s", len(after), strings.Join(first(after, 10), "\n"))
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d clients did not reconnect:\n%s", len(failed), len(links), strings.Join(first(failed, 10), "\n"))
	}
	if len(wrong) > 0 {
		t.Errorf("%d clients reconnected to another server:\n%s", len(wrong), strings.Join(first(wrong, 10), "\n"))
	}

	// Bytes pass on every new connection, and still on every control
	// connection (to a surviving node's own address): lines written after
	// every client reconnected come back.
	var stuck []string
	ctx := ctxT(t, 30*time.Second)
	check := func(what string, l *tcpLink, since time.Time) {
		for {
			_, last, endAt, end := l.state()
			switch {
			case last.After(since):
				return
			case !endAt.IsZero():
				stuck = append(stuck, fmt.Sprintf("%s %s (on %s) ended at %s: %v", what, l.src, l.server, endAt.Format("15:04:05.000"), end))
				return
			case ctx.Err() != nil:
				stuck = append(stuck, fmt.Sprintf("%s %s (on %s): no echo of a line written after %s", what, l.src, l.server, since.Format("15:04:05.000")))
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, r := range results {
		if r.link != nil {
			check("new connection", r.link, time.Time{})
		}
	}
	for _, l := range control {
		check("control connection", l, reconnected)
	}
	if len(stuck) > 0 {
		t.Errorf("%d connections passed no bytes:\n%s", len(stuck), strings.Join(first(stuck, 10), "\n"))
	}
}
