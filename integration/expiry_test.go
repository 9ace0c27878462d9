package integration

import (
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// maxidle: a session used regularly stays; an idle one is removed on every
// node by a leader-stamped ExpireSessions.
func TestIdleSessionsExpireEverywhere(t *testing.T) {
	ck := learnMode()
	ck.MaxIdle = config.Duration{Duration: 400 * time.Millisecond}
	c := startDevWith(t, daemon.DevOptions{Cookie: ck})
	busy := get(t, proxyURL(c, 0))
	idle := get(t, proxyURL(c, 1))
	busyID, idleID := cookieValue(t, busy.setCookie, "JSESSIONID"), cookieValue(t, idle.setCookie, "JSESSIONID")
	waitBound(t, c, busyID, busy.backend)
	waitBound(t, c, idleID, idle.backend)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if r := get(t, proxyURL(c, 2), "JSESSIONID="+busyID); r.backend != busy.backend {
			t.Fatalf("busy session moved to %q", r.backend)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, d := range c.Nodes {
		if _, ok := d.FSM().Lookup("app", idleID); ok {
			t.Fatalf("n%d still holds the idle session after 1.5 s with maxidle 400ms", i+1)
		}
		if _, ok := d.FSM().Lookup("app", busyID); !ok {
			t.Fatalf("n%d expired the busy session", i+1)
		}
	}
}
