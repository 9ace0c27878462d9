package admin_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cmd/haraftd/admin"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

var maskRE = regexp.MustCompile(`^h:[0-9a-f]{12}$`)

// TestSessionKeysNeedWrite: over the admin API, a read token lists
// sessions with masked keys (and page tokens that do not show them either)
// and can look up a key it already holds; a write token sees every key.
func TestSessionKeysNeedWrite(t *testing.T) {
	c := startDev(t)
	sec := c.Security
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := []string{"JSESSIONID-aaaa-0001", "JSESSIONID-bbbb-0002", "JSESSIONID-cccc-0003", "10.1.2.3"}
	var bs []*fsmpb.Binding
	for i, k := range keys {
		bs = append(bs, &fsmpb.Binding{Backend: "app", Key: k, Server: []string{"A", "B"}[i%2], LearnedBy: "n1"})
	}
	if _, err := c.Nodes[0].Node().Apply(ctx, fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: bs}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Nodes[1].FSM().SessionCount() < len(keys); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sessions not applied on n2")
		}
	}
	adm := dial(t, c, 1, sec.TLS.Client)
	rctx, wctx := withToken(ctx, sec.ReadToken), withToken(ctx, sec.WriteToken)

	// list pages through every session with page size 1 and returns the
	// keys as shown, and the page tokens.
	list := func(t *testing.T, ctx context.Context) (shown, tokens []string) {
		t.Helper()
		tok := ""
		for {
			resp, err := adm.ListSessions(ctx, &adminpb.ListSessionsRequest{PageSize: 1, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range resp.Sessions {
				shown = append(shown, s.Key)
			}
			if tok = resp.NextPageToken; tok == "" {
				return shown, tokens
			}
			tokens = append(tokens, tok)
		}
	}

	for _, tc := range []struct {
		name      string
		ctx       context.Context
		fullKeys  bool
		getKey    string
		getCode   codes.Code
		getServer string
	}{
		{"read token", rctx, false, keys[2], codes.OK, "A"},
		{"write token", wctx, true, keys[1], codes.OK, "B"},
		{"read token, a guessable key it holds", rctx, false, keys[3], codes.OK, "B"},
		{"read token, a key it does not hold", rctx, false, "JSESSIONID-zzzz", codes.NotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shown, tokens := list(t, tc.ctx)
			if len(shown) != len(keys) {
				t.Fatalf("listed %d sessions, want %d: %v", len(shown), len(keys), shown)
			}
			for _, s := range shown {
				if tc.fullKeys != slices.Contains(keys, s) {
					t.Errorf("listed key %q (full keys: %v)", s, tc.fullKeys)
				}
				if !tc.fullKeys && !maskRE.MatchString(s) {
					t.Errorf("masked key %q is not h:<12 hex digits>", s)
				}
			}
			if !tc.fullKeys {
				// Four keys, four masks; the same again on a second look.
				if again, _ := list(t, tc.ctx); !slices.Equal(again, shown) || len(slices.Compact(slices.Sorted(slices.Values(shown)))) != len(keys) {
					t.Errorf("masks %v, then %v", shown, again)
				}
			}
			for _, tok := range tokens {
				for _, k := range keys {
					if strings.Contains(tok, k) || strings.Contains(tok, strings.TrimPrefix(k, "JSESSIONID-")) {
						t.Errorf("page token %q shows key %q", tok, k)
					}
				}
			}
			s, err := adm.GetSession(tc.ctx, &adminpb.GetSessionRequest{Key: tc.getKey})
			if status.Code(err) != tc.getCode {
				t.Fatalf("get %q: %v, want %v", tc.getKey, err, tc.getCode)
			}
			if err == nil && (s.Key != tc.getKey || s.Server != tc.getServer) {
				t.Fatalf("get %q: %v", tc.getKey, s)
			}
		})
	}

	// A mask is not a key: it finds nothing, and a read token still may
	// not delete.
	shown, _ := list(t, rctx)
	_, err := adm.GetSession(rctx, &adminpb.GetSessionRequest{Key: shown[0]})
	wantCode(t, err, codes.NotFound, "no binding")
	_, err = adm.DeleteSession(rctx, &adminpb.DeleteSessionRequest{Key: keys[0]})
	wantCode(t, err, codes.PermissionDenied, "read-only")
	// A page token altered by the caller is refused.
	resp, err := adm.ListSessions(rctx, &adminpb.ListSessionsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte(resp.NextPageToken)
	bad[len(bad)/2] ^= 1
	_, err = adm.ListSessions(rctx, &adminpb.ListSessionsRequest{PageSize: 1, PageToken: string(bad)})
	wantCode(t, err, codes.InvalidArgument, "bad page_token")
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// or skips.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return ""
}

// TestPlaintextAdminOnNetwork: the admin API without TLS serves loopback,
// and serves a network address only with Options.Insecure (admin.insecure).
func TestPlaintextAdminOnNetwork(t *testing.T) {
	c := startDev(t)
	d := c.Nodes[0]
	ip := nonLoopbackIP(t)
	for _, tc := range []struct {
		name     string
		addr     string
		insecure bool
		refused  bool
	}{
		{"loopback", "127.0.0.1:0", false, false},
		{"all interfaces", "0.0.0.0:0", false, true},
		{"network address", ip + ":0", false, true},
		{"network address, insecure", ip + ":0", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := admin.New(admin.Options{NodeID: "n1", Node: d.Node(), FSM: d.FSM(), Logger: quiet(), Insecure: tc.insecure,
				Tokens: []admin.Token{{Name: "ops", Secret: "write-secret-0123456789", Write: true}}})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			ln, err := net.Listen("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			if tc.refused {
				select {
				case err := <-served:
					if err == nil || !strings.Contains(err.Error(), "admin.insecure: true") {
						t.Fatalf("Serve: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Serve did not refuse")
				}
				return
			}
			target := ln.Addr().String()
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := adminpb.NewAdminClient(conn).Status(withToken(ctx, "write-secret-0123456789"), &adminpb.StatusRequest{}); err != nil {
				t.Fatal(fmt.Errorf("status over %s: %w", target, err))
			}
		})
	}
}
