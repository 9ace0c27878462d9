package integration

import (
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/proto/fsmpb"
	"github.com/haraft/haraft/proxy/demobackend"
)

// A server dies: every node checks it, the leader commits it DOWN once a
// majority sees it down, and every node sends its sessions to the same new
// server. When it comes back it is committed UP, and the moved sessions stay
// where they are now.
func TestAgreedHealthMovesSessionsTogether(t *testing.T) {
	check := config.Check{Inter: config.Duration{Duration: 30 * time.Millisecond}, Rise: 2, Fall: 2}
	c := startDevWith(t, daemon.DevOptions{Cookie: learnMode(), Check: &check})
	waitAgreed := func(server string, want fsmpb.Health) time.Duration {
		t.Helper()
		start := time.Now()
		for _, d := range c.Nodes {
			waitFor(t, server+" agreed "+want.String()+" on "+d.Node().ID(), 5*time.Second, func() bool {
				return d.FSM().Servers().Get("app", server).Health == want
			})
		}
		return time.Since(start)
	}
	waitAgreed("A", fsmpb.Health_HEALTH_UP)
	waitAgreed("B", fsmpb.Health_HEALTH_UP)

	// Sessions on A.
	var onA []string
	for len(onA) < 5 {
		r := get(t, proxyURL(c, len(onA)%3))
		if r.backend == "A" {
			sid := cookieValue(t, r.setCookie, "JSESSIONID")
			waitBound(t, c, sid, "A")
			onA = append(onA, sid)
		}
	}
	addr := c.Backends[0].Addr()
	killed := time.Now()
	c.Backends[0].Close()
	took := waitAgreed("A", fsmpb.Health_HEALTH_DOWN)
	t.Logf("A killed: agreed DOWN on every node %v later", time.Since(killed).Round(time.Millisecond))
	_ = took
	views := c.Nodes[0].FSM().HealthViews("app", "A")
	down := 0
	for _, v := range views {
		if v.Health == fsmpb.Health_HEALTH_DOWN {
			down++
		}
	}
	if down < 2 {
		t.Fatalf("A committed DOWN with %d down views: %v", down, views)
	}
	for _, sid := range onA {
		for i := range c.Nodes {
			if r := get(t, proxyURL(c, i), "JSESSIONID="+sid); r.status != 200 || r.backend != "B" {
				t.Fatalf("session %s on n%d after A died: %+v", sid, i+1, r)
			}
		}
		waitBound(t, c, sid, "B") // the reassignment was committed
	}

	// A comes back: agreed UP; the moved sessions stay on B.
	back, err := demobackend.Start("A", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Backends[0] = back
	waitAgreed("A", fsmpb.Health_HEALTH_UP)
	for _, sid := range onA {
		for i := range c.Nodes {
			if r := get(t, proxyURL(c, i), "JSESSIONID="+sid); r.backend != "B" {
				t.Fatalf("session %s bounced back to %q on n%d", sid, r.backend, i+1)
			}
		}
	}
}
