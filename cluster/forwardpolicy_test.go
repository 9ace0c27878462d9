package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/clusterpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// lockedBuffer is a log sink several nodes write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// strangerClient speaks the cluster port's internal gRPC service as
// anyone who can reach the port can: a TCP connection, the mux's selector
// byte, then plain gRPC.
func strangerClient(t *testing.T, addr string) clusterpb.InternalClient {
	return PeerClient(t, addr, nil)
}

// PeerClient speaks the internal gRPC service of addr's cluster port as
// the mux expects: the gRPC selector byte, then TLS with conf's
// certificate, or plain gRPC when conf is nil. Exported for the external
// tests (cluster_test), which dial as a node or an attacker would.
func PeerClient(t *testing.T, addr string, conf *tls.Config) clusterpb.InternalClient {
	t.Helper()
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return nil, err
		}
		if _, err := c.Write([]byte{muxGRPC}); err != nil {
			c.Close()
			return nil, err
		}
		if conf == nil {
			return c, nil
		}
		tc := tls.Client(c, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return clusterpb.NewInternalClient(conn)
}

// EncodeCommand is fsm.Encode for tests: a failure fails t. Exported for
// the external tests.
func EncodeCommand(t *testing.T, mt fsm.MessageType, m proto.Message) []byte {
	t.Helper()
	b, err := fsm.Encode(mt, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForwardingRPCServesOnlyFollowerCommands is the attack of issue 13
// against the forwarding RPC: a stranger on the node network connects to
// the leader's cluster port and asks it to apply administrative commands.
// Every one is refused with PermissionDenied, logged once with the peer's
// address, and the replicated state is unchanged; a follower's own
// forwarding (a learned binding, a health view) still works.
func TestForwardingRPCServesOnlyFollowerCommands(t *testing.T) {
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tc, lns := reserveCluster(t, 3, func(int) string { return t.TempDir() })
	for i, ln := range lns {
		c := tc.config(i, ln)
		c.Logger = logger
		n, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		tc.nodes[i] = n
	}
	t.Cleanup(tc.shutdownAll)
	tc.waitReady()
	l := tc.leader()
	f := (l + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Legitimate forwarding from a follower: a learned binding.
	if _, err := tc.nodes[f].Apply(ctx, fsm.LearnSessionsType, learnOne("victim", "A", tc.nodes[f].ID())); err != nil {
		t.Fatalf("a follower's learned binding was refused: %v", err)
	}
	for _, n := range tc.nodes {
		waitFor(t, "the binding on "+n.ID(), func() bool { _, ok := n.FSM().Binding("app", "victim"); return ok })
	}

	stranger := strangerClient(t, tc.addrs[l])
	eip := &fsmpb.EIP{Id: "eipalloc-1", Address: "198.51.100.1", HomeAz: "a", Holder: "n1", Term: 1_000_000}
	for _, tc2 := range []struct {
		name string
		cmd  []byte
	}{
		{"set server maint", EncodeCommand(t, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_MAINT})},
		{"set server weight", EncodeCommand(t, fsm.SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 0})},
		{"add server", EncodeCommand(t, fsm.AddServerType, &fsmpb.AddServer{Backend: "app", Name: "EVIL", Addr: "203.0.113.1:80"})},
		{"remove server", EncodeCommand(t, fsm.RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "A"})},
		{"delete session", EncodeCommand(t, fsm.DeleteSessionsType, &fsmpb.DeleteSessions{Sessions: []*fsmpb.SessionRef{{Backend: "app", Key: "victim"}}})},
		{"rebind session", EncodeCommand(t, fsm.RebindSessionsType, &fsmpb.RebindSessions{Bindings: []*fsmpb.Binding{{Backend: "app", Key: "victim", Server: "EVIL"}}})},
		{"assign EIP", EncodeCommand(t, fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: eip})},
		{"agreed health", EncodeCommand(t, fsm.SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: fsmpb.Health_HEALTH_DOWN})},
		{"expire sessions", EncodeCommand(t, fsm.ExpireSessionsType, &fsmpb.ExpireSessions{Backend: "app", MaxLifeMs: 1})},
		{"unknown type", []byte{100, 1, 2, 3}},
		{"unknown ignorable type", []byte{byte(fsm.IgnoreUnknownTypeFlag) | 100}},
		{"empty command", nil},
		{"learn that does not decode", []byte{byte(fsm.LearnSessionsType), 0xff, 0xff, 0xff}},
	} {
		t.Run(tc2.name, func(t *testing.T) {
			_, err := stranger.Apply(ctx, &clusterpb.ApplyRequest{Command: tc2.cmd, FromNode: tc.nodes[f].ID()})
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("got %v, want PermissionDenied", err)
			}
		})
	}
	// A follower refuses as the leader does (no FailedPrecondition that a
	// forwarder would retry elsewhere).
	_, err := strangerClient(t, tc.addrs[f]).Apply(ctx, &clusterpb.ApplyRequest{Command: EncodeCommand(t, fsm.SetServerAdminType,
		&fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_MAINT})})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("follower: got %v, want PermissionDenied", err)
	}

	// Nothing changed, on any node.
	for _, n := range tc.nodes {
		if b, ok := n.FSM().Binding("app", "victim"); !ok || b.Server != "A" {
			t.Errorf("%s: session victim = %v, %v", n.ID(), b, ok)
		}
		if len(n.FSM().Servers().All()) != 0 || len(n.FSM().EIPs()) != 0 {
			t.Errorf("%s: servers %v, EIPs %v", n.ID(), n.FSM().Servers().All(), n.FSM().EIPs())
		}
	}

	// In-process callers get the same answer on a follower, at once.
	if _, err := tc.nodes[f].Apply(ctx, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A"}); !errors.Is(err, ErrNotForwarded) {
		t.Fatalf("Apply of an admin command on a follower: %v, want ErrNotForwarded", err)
	}

	// Thirteen refusals from one address within 10 s: one line on the
	// leader (and one on the follower), naming the peer's address.
	if got := logs.count("cluster port: call refused"); got != 2 {
		t.Errorf("%d refusal lines, want 2 (one per node refusing):\n%s", got, logs.b.String())
	}
	if !strings.Contains(logs.b.String(), "peer_addr=127.0.0.1:") {
		t.Errorf("refusal log without the peer's address:\n%s", logs.b.String())
	}

	// And the legitimate forwarding still works afterwards: a health view.
	res, err := tc.nodes[f].Apply(ctx, fsm.ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: []*fsmpb.HealthView{
		{Backend: "app", Server: "A", Node: tc.nodes[f].ID(), Health: fsmpb.Health_HEALTH_UP}}})
	if err != nil || res.ErrorCode != "" {
		t.Fatalf("a follower's health view: %v %v", res, err)
	}
}

func TestCheckForwarded(t *testing.T) {
	views := func(nodes ...string) []byte {
		m := &fsmpb.ReportHealthViews{}
		for _, n := range nodes {
			m.Views = append(m.Views, &fsmpb.HealthView{Backend: "app", Server: "A", Node: n})
		}
		return EncodeCommand(t, fsm.ReportHealthViewsType, m)
	}
	status := func(node string) []byte {
		return EncodeCommand(t, fsm.ReportNodeStatusType, &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: node}})
	}
	register := func(node string) []byte {
		return EncodeCommand(t, fsm.RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: node}})
	}
	learn := EncodeCommand(t, fsm.LearnSessionsType, learnOne("k", "A", "n2"))
	touch := EncodeCommand(t, fsm.TouchSessionsType, &fsmpb.TouchSessions{Backend: "app", Keys: []string{"k"}})
	drain := EncodeCommand(t, fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_DRAIN})
	for _, tc := range []struct {
		name   string
		data   []byte
		peer   string
		member bool
		want   string // "" = accepted
	}{
		{"learn, no identities", learn, "", false, ""},
		{"touch, no identities", touch, "", false, ""},
		{"learn from a member", learn, "n2", true, ""},
		{"learn from a non-member", learn, "n9", false, "not a member"},
		{"own health views", views("n2", "n2"), "n2", true, ""},
		{"another node's health view", views("n2", "n3"), "n2", true, `not about "n3"`},
		{"health views, no identities", views("n3"), "", false, ""},
		{"own node status", status("n2"), "n2", true, ""},
		{"another node's status", status("n3"), "n2", true, `not about "n3"`},
		{"own registration", register("n2"), "n2", true, ""},
		{"another node's registration", register("n1"), "n2", true, `not about "n1"`},
		{"admin command from a member", drain, "n2", true, "set_server_admin is not a command a follower forwards"},
		{"admin command, no identities", drain, "", false, "set_server_admin is not a command a follower forwards"},
		{"unknown type", []byte{99}, "", false, "command type 99 is not"},
		{"empty", nil, "", false, "empty command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkForwarded(tc.data, tc.peer, tc.member)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLogLimiter(t *testing.T) {
	l := &LogLimiter{Every: time.Second}
	t0 := time.Unix(1000, 0)
	for _, step := range []struct {
		key        string
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{"a", 0, true, 0},
		{"a", 100 * time.Millisecond, false, 0},
		{"b", 200 * time.Millisecond, true, 0},
		{"a", 900 * time.Millisecond, false, 0},
		{"a", 1100 * time.Millisecond, true, 2},
		{"a", 1200 * time.Millisecond, false, 0},
		{"b", 3 * time.Second, true, 0},
	} {
		ok, n := l.allowAt(step.key, t0.Add(step.at))
		if ok != step.ok || n != step.suppressed {
			t.Fatalf("%s at %v: got %v %d, want %v %d", step.key, step.at, ok, n, step.ok, step.suppressed)
		}
	}
	// A flood from many addresses takes bounded memory.
	for i := range 3 * maxLimitedKeys {
		l.allowAt(strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), t0.Add(4*time.Second))
	}
	if len(l.keys) > maxLimitedKeys+1 {
		t.Fatalf("%d keys kept", len(l.keys))
	}
}
