package integration

import (
	"testing"
	"time"
)

// The leader crashes (no leadership transfer): the survivors keep serving
// its sessions at once, and learn new ones once they elected a new leader.
func TestSessionSticksThroughLeaderCrash(t *testing.T) {
	c := startDev(t, learnMode(), "")
	first := get(t, proxyURL(c, 0))
	sid := cookieValue(t, first.setCookie, "JSESSIONID")
	waitBound(t, c, sid, first.backend)
	l := leaderIndex(t, c)
	killed := time.Now()
	if err := c.KillNode(l); err != nil {
		t.Logf("kill: %v", err)
	}
	survivor := (l + 1) % 3
	r := get(t, proxyURL(c, survivor), "JSESSIONID="+sid)
	t.Logf("leader n%d crashed; survivor n%d served the old session %v later", l+1, survivor+1, time.Since(killed).Round(time.Microsecond))
	if r.backend != first.backend {
		t.Fatalf("after the leader crash the session went to %q, want %q", r.backend, first.backend)
	}
	fresh := get(t, proxyURL(c, survivor))
	sid2 := cookieValue(t, fresh.setCookie, "JSESSIONID")
	waitBound(t, c, sid2, fresh.backend)
	t.Logf("a new session was committed on both survivors %v after the crash (50 ms Raft timeouts)", time.Since(killed).Round(time.Millisecond))
	nl := leaderIndex(t, c)
	t.Logf("new leader n%d", nl+1)
	for i, d := range c.Nodes {
		if d == nil {
			continue
		}
		for _, s := range []struct{ id, b string }{{sid, first.backend}, {sid2, fresh.backend}} {
			if r := get(t, proxyURL(c, i), "JSESSIONID="+s.id); r.backend != s.b {
				t.Fatalf("n%d sends %s to %q, want %q", i+1, s.id, r.backend, s.b)
			}
		}
	}
}
