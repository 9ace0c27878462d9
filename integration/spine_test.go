package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// A session learned through one node reaches the same backend through every
// node, keeps doing so after the leader shuts down, and new sessions are
// learned and replicated under the new leader.
func TestSessionSticksThroughLeaderShutdown(t *testing.T) {
	c := startDev(t, learnMode(), "")
	first := get(t, proxyURL(c, 0))
	if first.status != 200 || first.backend == "" {
		t.Fatalf("first request: %+v", first)
	}
	sid := cookieValue(t, first.setCookie, "JSESSIONID")
	waitBound(t, c, sid, first.backend)
	for i := range c.Nodes {
		for n := 0; n < 5; n++ {
			r := get(t, proxyURL(c, i), "JSESSIONID="+sid)
			if r.backend != first.backend || r.session != sid {
				t.Fatalf("node %d request %d: backend %q session %q, want %q %q", i+1, n, r.backend, r.session, first.backend, sid)
			}
		}
	}

	l := leaderIndex(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := time.Now()
	if err := c.StopNode(ctx, l); err != nil {
		t.Fatal(err)
	}
	survivor := (l + 1) % 3
	r := get(t, proxyURL(c, survivor), "JSESSIONID="+sid)
	t.Logf("leader n%d shut down; survivor n%d served the old session %v later", l+1, survivor+1, time.Since(stopped))
	if r.backend != first.backend {
		t.Fatalf("after leader shutdown the session moved to %q", r.backend)
	}
	for i, d := range c.Nodes {
		if d == nil {
			continue
		}
		if r := get(t, proxyURL(c, i), "JSESSIONID="+sid); r.backend != first.backend {
			t.Fatalf("survivor n%d sends the session to %q", i+1, r.backend)
		}
	}

	// New sessions under the new leader.
	fresh := get(t, proxyURL(c, survivor))
	sid2 := cookieValue(t, fresh.setCookie, "JSESSIONID")
	waitBound(t, c, sid2, fresh.backend)
	t.Logf("new session learned and committed under the new leader %v after the shutdown", time.Since(stopped))
	for i, d := range c.Nodes {
		if d == nil {
			continue
		}
		if r := get(t, proxyURL(c, i), "JSESSIONID="+sid2); r.backend != fresh.backend {
			t.Fatalf("new session through n%d went to %q, want %q", i+1, r.backend, fresh.backend)
		}
	}
}

// Stopping all three nodes and starting them on the same data dirs keeps
// every learned binding.
func TestFullRestartKeepsBindings(t *testing.T) {
	c := startDev(t, learnMode(), "")
	want := map[string]string{}
	for i := 0; i < 30; i++ {
		r := get(t, proxyURL(c, i%3))
		want[cookieValue(t, r.setCookie, "JSESSIONID")] = r.backend
	}
	for sid, b := range want {
		waitBound(t, c, sid, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range c.Nodes {
		if err := c.StopNode(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Nodes {
		if err := c.RestartNode(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitServing(ctx); err != nil {
		t.Fatal(err)
	}
	for i, d := range c.Nodes {
		if got := d.FSM().SessionCount(); got != len(want) {
			t.Fatalf("n%d has %d sessions after restart, want %d", i+1, got, len(want))
		}
		for sid, b := range want {
			if r := get(t, proxyURL(c, i), "JSESSIONID="+sid); r.backend != b {
				t.Fatalf("after restart n%d sends %s to %q, want %q", i+1, sid, r.backend, b)
			}
		}
	}
}

// A node that was down while sessions were learned passes its readiness
// gate only once it has applied them: the moment it serves, it knows them.
func TestReadinessGateWaitsForTheLog(t *testing.T) {
	c := startDev(t, learnMode(), "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.StopNode(ctx, 2); err != nil {
		t.Fatal(err)
	}
	var bindings []*fsmpb.Binding
	for i := 0; i < 2000; i++ {
		bindings = append(bindings, &fsmpb.Binding{Backend: "app", Key: fmt.Sprintf("gate-%04d", i), Server: "B"})
	}
	if _, err := c.Nodes[0].Node().Apply(ctx, fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: bindings}); err != nil {
		t.Fatal(err)
	}
	want := c.Nodes[0].FSM().SessionCount()
	if err := c.RestartNode(2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Nodes[2].Serving():
	case <-ctx.Done():
		t.Fatal("restarted node never served")
	}
	if got := c.Nodes[2].FSM().SessionCount(); got < want {
		t.Fatalf("node serves with %d sessions applied, the cluster had %d", got, want)
	}
	if r := get(t, proxyURL(c, 2), "JSESSIONID=gate-1234"); r.backend != "B" {
		t.Fatalf("restarted node routes gate-1234 to %q", r.backend)
	}
}

// Two nodes proposing different servers for one session at the same moment
// end with one binding everywhere, and both proposers adopt it.
func TestConflictingProposalsConverge(t *testing.T) {
	c := startDev(t, learnMode(), "")
	for round := 0; round < 20; round++ {
		key := fmt.Sprintf("conflict-%d", round)
		var wg sync.WaitGroup
		won := make([]string, 2)
		for i, srv := range []string{"A", "B"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := c.Nodes[i].Learner().Learn(context.Background(), "app", key, srv, true)
				if err != nil {
					t.Error(err)
				}
				won[i] = got
			}()
		}
		wg.Wait()
		if won[0] != won[1] {
			t.Fatalf("round %d: proposers adopted different bindings %v", round, won)
		}
		waitBound(t, c, key, won[0])
		for i := range c.Nodes {
			if r := get(t, proxyURL(c, i), "JSESSIONID="+key); r.backend != won[0] {
				t.Fatalf("round %d: n%d routes to %q, committed %q", round, i+1, r.backend, won[0])
			}
		}
	}
}

func TestPrefixMode(t *testing.T) {
	c := startDev(t, config.Cookie{Name: "JSESSIONID", Mode: config.CookiePrefix}, "")
	r := get(t, proxyURL(c, 0))
	v := cookieValue(t, r.setCookie, "JSESSIONID")
	prefix, app, ok := strings.Cut(v, "~")
	if !ok || prefix != r.backend {
		t.Fatalf("prefix mode cookie %q from backend %s", v, r.backend)
	}
	for i := range c.Nodes {
		got := get(t, proxyURL(c, i), "JSESSIONID="+v)
		if got.backend != r.backend || got.session != app {
			t.Fatalf("n%d: backend %q saw session %q, want %q %q", i+1, got.backend, got.session, r.backend, app)
		}
	}
}

func TestInsertMode(t *testing.T) {
	c := startDev(t, config.Cookie{Name: "SERVERID", Mode: config.CookieInsert, Indirect: true, NoCache: true, HTTPOnly: true}, "")
	r := get(t, proxyURL(c, 0))
	srv := cookieValue(t, r.setCookie, "SERVERID")
	if srv != r.backend {
		t.Fatalf("inserted SERVERID=%q for backend %q", srv, r.backend)
	}
	sid := cookieValue(t, r.setCookie, "JSESSIONID")
	for i := range c.Nodes {
		got := get(t, proxyURL(c, i), "SERVERID="+srv, "JSESSIONID="+sid)
		if got.backend != srv || got.session != sid {
			t.Fatalf("n%d: %+v", i+1, got)
		}
		for _, l := range got.setCookie {
			if strings.HasPrefix(l, "SERVERID=") {
				t.Fatalf("n%d re-inserted the cookie of a valid session: %q", i+1, l)
			}
		}
	}
}

func TestRewriteMode(t *testing.T) {
	c := startDev(t, config.Cookie{Name: "JSESSIONID", Mode: config.CookieRewrite}, "")
	r := get(t, proxyURL(c, 1))
	if v := cookieValue(t, r.setCookie, "JSESSIONID"); v != r.backend {
		t.Fatalf("rewrite mode sent JSESSIONID=%q for backend %q", v, r.backend)
	}
	for i := range c.Nodes {
		if got := get(t, proxyURL(c, i), "JSESSIONID="+r.backend); got.backend != r.backend {
			t.Fatalf("n%d: %+v", i+1, got)
		}
	}
}

// learn_commit: sync answers only once the binding is committed: right
// after the response, every node already routes the session.
func TestLearnCommitSync(t *testing.T) {
	c := startDev(t, learnMode(), config.LearnCommitSync)
	r := get(t, proxyURL(c, 1))
	sid := cookieValue(t, r.setCookie, "JSESSIONID")
	if _, ok := c.Nodes[1].FSM().Lookup("app", sid); !ok {
		// The leader committed it; this follower applies within a heartbeat.
		waitFor(t, "follower apply", time.Second, func() bool { _, ok := c.Nodes[1].FSM().Lookup("app", sid); return ok })
	}
	l := leaderIndex(t, c)
	if s, ok := c.Nodes[l].FSM().Lookup("app", sid); !ok || s != r.backend {
		t.Fatalf("sync learn answered before the leader applied the binding (%q, %v)", s, ok)
	}
}

// With learn_commit: sync the client holds a committed binding the moment
// it gets its answer; another node that has not applied it yet catches up
// with the leader's commit index before treating the cookie as new, so the
// very next request, through any node, reaches the same backend.
func TestSyncLearnedSessionStickyAtOnceOnEveryNode(t *testing.T) {
	c := startDev(t, learnMode(), config.LearnCommitSync)
	for i := 0; i < 40; i++ {
		r := get(t, proxyURL(c, i%3))
		sid := cookieValue(t, r.setCookie, "JSESSIONID")
		for j := 1; j <= 2; j++ {
			if got := get(t, proxyURL(c, (i+j)%3), "JSESSIONID="+sid); got.backend != r.backend {
				t.Fatalf("session %d learned on n%d (%s) went to %q on n%d right after", i, i%3+1, r.backend, got.backend, (i+j)%3+1)
			}
		}
	}
}
