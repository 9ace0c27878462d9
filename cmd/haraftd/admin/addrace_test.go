package admin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
)

// Two operators add servers at the same moment through two nodes: a
// server name, or a cookie value, is still taken by one server only. Both
// calls end on the leader, and both are checked against its table before
// either is committed; only Apply, which runs the entries one after the
// other on every node, can tell which came second.
func TestConcurrentAddServerKeepsTableInvariants(t *testing.T) {
	c := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	wctx := withToken(ctx, c.Security.WriteToken)
	// Two operators, two connections to the leader (a write sent to a
	// follower is redirected there): both connections are up before the
	// race, so the two calls reach the leader together.
	l := leaderIndex(t, c)
	adm := [2]adminpb.AdminClient{dialFollowing(t, c, l, c.Security.TLS.Client), dialFollowing(t, c, l, c.Security.TLS.Client)}
	for _, a := range adm {
		if _, err := a.ListBackends(withToken(ctx, c.Security.ReadToken), &adminpb.ListBackendsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// race runs both adds at once and returns their errors.
	race := func(a, b [3]string) [2]error {
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, r := range [2][3]string{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = adm[i].AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: r[0], Addr: r[1], Cookie: r[2]})
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	oneWins := func(what string, errs [2]error) {
		t.Helper()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case status.Code(err) != codes.AlreadyExists:
				t.Fatalf("%s: %v, want success or AlreadyExists", what, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%s: %d of 2 concurrent adds succeeded (errors %v), want exactly 1", what, ok, errs)
		}
	}
	// Several rounds: on a busy machine one round may not overlap, the
	// invariant must hold in every one.
	for round := range 5 {
		name := fmt.Sprintf("N%d", round)
		errs := race([3]string{name, "127.0.0.1:1", ""}, [3]string{name, "127.0.0.1:2", ""})
		oneWins("same name "+name, errs)

		cookie := fmt.Sprintf("k%d", round)
		errs = race([3]string{fmt.Sprintf("X%d", round), "127.0.0.1:3", cookie}, [3]string{fmt.Sprintf("Y%d", round), "127.0.0.1:4", cookie})
		oneWins("same cookie "+cookie, errs)
	}
	// Every node's table agrees: one live server per cookie value.
	waitAll(t, c, "tables equal", func(d *daemon.Daemon) bool {
		return len(d.FSM().Servers().All()) == len(c.Nodes[0].FSM().Servers().All())
	})
	for i, d := range c.Nodes {
		byCookie := map[string]fsm.ServerKey{}
		for k, st := range d.FSM().Servers().All() {
			if k.Backend != "app" || !st.Dynamic || st.Removed {
				continue
			}
			if other, dup := byCookie[st.Cookie]; dup {
				t.Fatalf("node %d: cookie value %q names both %s and %s", i, st.Cookie, other.Name, k.Name)
			}
			byCookie[st.Cookie] = k
		}
	}
}
