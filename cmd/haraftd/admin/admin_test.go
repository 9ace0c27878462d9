package admin_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/admin"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
	"github.com/haraft/haraft/proto/adminpb"
)

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// startDev starts a secured in-process dev cluster. It keeps dev mode's
// 300 ms Raft timeouts: under -race on two cores, 50 ms ones elect a new
// leader several times a second, which the leader-only calls here would
// mostly measure.
func startDev(t *testing.T) *daemon.DevCluster {
	t.Helper()
	return daemontest.StartDev(t, daemon.DevOptions{Logger: quiet()})
}

// dial connects to node i's admin API with the dev client certificate.
func dial(t *testing.T, c *daemon.DevCluster, i int, f certs.Files) adminpb.AdminClient {
	t.Helper()
	tc, err := certs.Client(f, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.Nodes[i].AdminAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminpb.NewAdminClient(conn)
}

// dialFollowing is dial, with writes that follow a NOT_LEADER answer to
// the leader's admin address, as haraftctl does, and are asked again while
// leadership moves.
func dialFollowing(t *testing.T, c *daemon.DevCluster, i int, f certs.Files) adminpb.AdminClient {
	t.Helper()
	tc, err := certs.Client(f, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	creds := grpc.WithTransportCredentials(credentials.NewTLS(tc))
	follow := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		for try := 0; try < 20 && ctx.Err() == nil; try++ {
			leader := ""
			if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
				for _, d := range st.Details() {
					if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Reason == admin.ReasonNotLeader {
						leader = ei.Metadata["leader_admin_addr"]
					}
				}
			}
			// Leadership moving, an election, or a leader that has not
			// registered its admin address yet: ask again in a moment.
			msg := status.Convert(err).Message()
			moved := status.Code(err) == codes.Unavailable && strings.Contains(msg, "leadership changed") ||
				status.Code(err) == codes.FailedPrecondition && (strings.Contains(msg, "no leader known") || strings.Contains(msg, "admin address is unknown"))
			if leader == "" && !moved {
				return err
			}
			time.Sleep(50 * time.Millisecond)
			if leader == "" {
				err = invoker(ctx, method, req, reply, cc, opts...)
				continue
			}
			lc, derr := grpc.NewClient(leader, creds)
			if derr != nil {
				return derr
			}
			err = lc.Invoke(ctx, method, req, reply, opts...)
			lc.Close()
		}
		return err
	}
	conn, err := grpc.NewClient(c.Nodes[i].AdminAddr(), creds, grpc.WithUnaryInterceptor(follow))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return adminpb.NewAdminClient(conn)
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func leaderIndex(t *testing.T, c *daemon.DevCluster) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, d := range c.Nodes {
			if d != nil && d.Node().IsLeader() {
				return i
			}
		}
	}
	t.Fatal("no leader")
	return -1
}

func wantCode(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), msg) {
		t.Fatalf("err = %v, want %s containing %q", err, code, msg)
	}
}

// learn makes the proxy of node i learn a session bound by demo backend.
func learn(t *testing.T, c *daemon.DevCluster, i int, key string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+c.Nodes[i].Frontends()[0].Addr().String()+"/login?session="+key, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

func TestAdminAPI(t *testing.T) {
	c := startDev(t)
	sec := c.Security
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wctx := withToken(ctx, sec.WriteToken)
	rctx := withToken(ctx, sec.ReadToken)
	li := leaderIndex(t, c)
	fi := (li + 1) % 3
	follower := dial(t, c, fi, sec.TLS.Client)
	leader := dial(t, c, li, sec.TLS.Client)

	st, err := follower.Status(rctx, &adminpb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeId != fmt.Sprintf("n%d", fi+1) || st.State != "Follower" || st.LeaderId == "" || !st.Ready || len(st.Frontends) != 1 {
		t.Fatalf("status %v", st)
	}

	// Registration includes the admin address; members show it.
	var members *adminpb.MembersResponse
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		members, err = leader.Members(rctx, &adminpb.MembersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		reg := 0
		for _, m := range members.Members {
			if m.Registered && m.AdminAddr != "" {
				reg++
			}
		}
		if reg == 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(members.Members) != 3 {
		t.Fatalf("members %v", members)
	}
	for _, m := range members.Members {
		if !m.Registered || m.AdminAddr == "" || m.Suffrage != "voter" || m.Az == "" {
			t.Fatalf("member %v", m)
		}
	}

	// The answering node's own traffic counters.
	if body := learn(t, c, fi, "x"); !strings.Contains(body, "hello from") {
		t.Fatalf("proxy answered %q", body)
	}
	bs, err := follower.ListBackends(rctx, &adminpb.ListBackendsRequest{Backend: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if n := bs.Backends[0].Servers[0].Requests + bs.Backends[0].Servers[1].Requests; n != 1 {
		t.Fatalf("requests counted %d, want 1: %v", n, bs)
	}

	// A write on a follower is not forwarded over the cluster port: the
	// follower answers with the leader's admin address (retried if
	// leadership moved to the follower meanwhile) ...
	for try := 0; ; try++ {
		f := dial(t, c, (leaderIndex(t, c)+1)%3, sec.TLS.Client)
		_, err = f.SetServerAdmin(wctx, &adminpb.SetServerAdminRequest{Backend: "app", Server: "B", Admin: adminpb.AdminState_ADMIN_DRAIN})
		if strings.Contains(status.Convert(err).Message(), "runs on the leader") || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // an election: no leader to name yet
	}
	wantCode(t, err, codes.FailedPrecondition, "not the leader: SetServerAdmin runs on the leader")
	// ... which haraftctl (here dialFollowing) asks instead, with the
	// caller's token.
	follower = dialFollowing(t, c, fi, sec.TLS.Client)
	srv, err := follower.SetServerAdmin(wctx, &adminpb.SetServerAdminRequest{Backend: "app", Server: "B", Admin: adminpb.AdminState_ADMIN_DRAIN})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Admin != adminpb.AdminState_ADMIN_DRAIN || srv.Usable {
		t.Fatalf("after drain: %v", srv)
	}
	srv, err = follower.SetServerWeight(wctx, &adminpb.SetServerWeightRequest{Backend: "app", Server: "A", Weight: 7})
	if err != nil || srv.Weight != 7 || srv.ConfiguredWeight != 1 || !srv.WeightOverridden {
		t.Fatalf("weight: %v %v", srv, err)
	}
	srv, err = follower.AddServer(wctx, &adminpb.AddServerRequest{Backend: "app", Server: "C", Addr: "127.0.0.1:9"})
	if err != nil || !srv.Dynamic || srv.Addr != "127.0.0.1:9" || srv.Weight != 1 {
		t.Fatalf("add: %v %v", srv, err)
	}
	// The leader answered; the follower shows it once it applied it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		bs, err = follower.ListBackends(rctx, &adminpb.ListBackendsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(bs.Backends) == 1 && len(bs.Backends[0].Servers) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backends %v", bs)
		}
	}
	srv, err = follower.RemoveServer(wctx, &adminpb.RemoveServerRequest{Backend: "app", Server: "C"})
	if err != nil || !srv.Removed {
		t.Fatalf("remove: %v %v", srv, err)
	}

	// Errors an operator can act on.
	_, err = follower.SetServerAdmin(wctx, &adminpb.SetServerAdminRequest{Backend: "app", Server: "Z"})
	wantCode(t, err, codes.NotFound, `server "Z" in backend app (servers: A, B)`)
	_, err = follower.GetSession(rctx, &adminpb.GetSessionRequest{Key: "nope"})
	wantCode(t, err, codes.NotFound, `session "nope"`)
	// A leader-only call on a follower names the leader's admin address
	// (retried if leadership moved to the follower meanwhile).
	for try := 0; ; try++ {
		f := dial(t, c, (leaderIndex(t, c)+1)%3, sec.TLS.Client)
		_, err = f.Remove(wctx, &adminpb.RemoveRequest{Id: "n9"})
		if strings.Contains(status.Convert(err).Message(), "runs on the leader") || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // an election: no leader to name yet
	}
	wantCode(t, err, codes.FailedPrecondition, "not the leader: Remove runs on the leader")

	// Refusals.
	_, err = follower.SetServerAdmin(rctx, &adminpb.SetServerAdminRequest{Backend: "app", Server: "A"})
	wantCode(t, err, codes.PermissionDenied, `token "dev-read" is read-only`)
	_, err = follower.Status(ctx, &adminpb.StatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "missing bearer token")
	_, err = follower.Status(withToken(ctx, "0123456789abcdef-wrong"), &adminpb.StatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "unknown bearer token")
}

// TestWatchLive streams events from a follower while a write and a
// leadership transfer happen.
func TestWatchLive(t *testing.T) {
	c := startDev(t)
	sec := c.Security
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	li := leaderIndex(t, c)
	follower := dial(t, c, (li+1)%3, sec.TLS.Client)
	stream, err := follower.Watch(withToken(ctx, sec.ReadToken), &adminpb.WatchRequest{
		Types: []adminpb.EventType{adminpb.EventType_EVENT_LEADER_CHANGED, adminpb.EventType_EVENT_SERVER_CHANGED}})
	if err != nil {
		t.Fatal(err)
	}
	// The stream is open once the server has registered it; a header
	// round trip is not guaranteed, so give it a moment.
	time.Sleep(100 * time.Millisecond)
	w := withToken(ctx, sec.WriteToken)
	if _, err := dialFollowing(t, c, (li+1)%3, sec.TLS.Client).SetServerAdmin(w, &adminpb.SetServerAdminRequest{Backend: "app", Server: "A", Admin: adminpb.AdminState_ADMIN_MAINT}); err != nil {
		t.Fatal(err)
	}
	// 50 ms timeouts under -race: leadership may move by itself meanwhile.
	for try := 0; ; try++ {
		_, err := dial(t, c, leaderIndex(t, c), sec.TLS.Client).TransferLeadership(w, &adminpb.TransferLeadershipRequest{})
		if err == nil || try == 10 {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Aborted {
			t.Fatal(err)
		}
	}
	seen := map[adminpb.EventType]string{}
	for len(seen) < 2 {
		e, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		if e.Type == adminpb.EventType_EVENT_LEADER_CHANGED && e.Node == "" {
			continue // "no leader" between two leaders
		}
		seen[e.Type] = e.Message
	}
	if m := seen[adminpb.EventType_EVENT_SERVER_CHANGED]; m != "app/A set maint (was ready)" {
		t.Errorf("server event %q", m)
	}
	if m := seen[adminpb.EventType_EVENT_LEADER_CHANGED]; !strings.Contains(m, "is the leader") {
		t.Errorf("leader event %q", m)
	}
}
