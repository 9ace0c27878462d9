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

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/proto/adminpb"
)

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// startDev starts a secured in-process dev cluster with 50 ms Raft timeouts.
func startDev(t *testing.T) *daemon.DevCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := daemon.StartDev(ctx, daemon.DevOptions{DataDir: t.TempDir(), FastRaft: true, Logger: quiet(), RaftLogLevel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
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
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
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

	// Writes through a follower are committed by the leader.
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
	bs, err := leader.ListBackends(rctx, &adminpb.ListBackendsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.Backends) != 1 || len(bs.Backends[0].Servers) != 3 {
		t.Fatalf("backends %v", bs)
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
	_, err = follower.Join(wctx, &adminpb.JoinRequest{Id: "n9", Address: "127.0.0.1:1"})
	wantCode(t, err, codes.FailedPrecondition, "not the leader")

	// Refusals.
	_, err = follower.SetServerAdmin(rctx, &adminpb.SetServerAdminRequest{Backend: "app", Server: "A"})
	wantCode(t, err, codes.PermissionDenied, `token "dev-read" is read-only`)
	_, err = follower.Status(ctx, &adminpb.StatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "missing bearer token")
	_, err = follower.Status(withToken(ctx, "0123456789abcdef-wrong"), &adminpb.StatusRequest{})
	wantCode(t, err, codes.Unauthenticated, "unknown bearer token")
}
