package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

func opsPost(t *testing.T, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOpsSetServerAdmin: the page's drain / ready buttons' endpoint, on a
// follower, with the write token: the server's state changes on every node
// (the leader proposed it); every other request is refused with its reason.
func TestOpsSetServerAdmin(t *testing.T) {
	c := opsTestCluster(t)
	leader, _ := c.Nodes[0].Node().Leader()
	fi := 0
	for i, cfg := range c.Configs {
		if cfg.Node.ID != leader {
			fi = i
			break
		}
	}
	ops := "http://" + c.Nodes[fi].OpsAddr()
	url := ops + "/servers/app/A/admin"
	json := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + c.Security.WriteToken}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range json {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	if page := httpGet(t, ops+"/"); !strings.Contains(page, `data-admin="drain"`) || !strings.Contains(page, `<script>`) {
		t.Fatal("page with a write token shows no buttons")
	}
	for _, tc := range []struct {
		name string
		url  string
		hdr  map[string]string
		body string
		code int
		says string
	}{
		{"no token", url, with("Authorization", ""), `{"admin":"drain"}`, 401, "missing bearer token"},
		{"wrong token", url, with("Authorization", "Bearer 0123456789abcdef0123"), `{"admin":"drain"}`, 401, "unknown bearer token"},
		{"read token", url, with("Authorization", "Bearer "+c.Security.ReadToken), `{"admin":"drain"}`, 403, "read-only"},
		{"form post", url, with("Content-Type", "application/x-www-form-urlencoded"), `admin=drain`, 415, "application/json"},
		{"text/plain", url, with("Content-Type", "text/plain"), `{"admin":"drain"}`, 415, "application/json"},
		{"other origin", url, with("Origin", "http://evil.example"), `{"admin":"drain"}`, 403, "origin"},
		{"bad state", url, json, `{"admin":"up"}`, 400, "drain, ready or maint"},
		{"bad body", url, json, `admin`, 400, "body"},
		{"unknown server", ops + "/servers/app/Z/admin", json, `{"admin":"drain"}`, 404, "Z"},
	} {
		code, body := opsPost(t, tc.url, tc.hdr, tc.body)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, code, body, tc.code, tc.says)
		}
	}
	if st := c.Nodes[fi].FSM().Servers().Get("app", "A"); st.Admin != fsmpb.AdminState_ADMIN_READY {
		t.Fatalf("a refused request changed A: %v", st.Admin)
	}

	for _, state := range []struct {
		body string
		want fsmpb.AdminState
	}{{`{"admin":"drain"}`, fsmpb.AdminState_ADMIN_DRAIN}, {`{"admin":"ready"}`, fsmpb.AdminState_ADMIN_READY}} {
		code, body := opsPost(t, url, with("Origin", ops), state.body)
		if code != http.StatusOK {
			t.Fatalf("%s on follower %s: %d %s", state.body, c.Configs[fi].Node.ID, code, body)
		}
		for i, d := range c.Nodes {
			for deadline := time.Now().Add(10 * time.Second); d.FSM().Servers().Get("app", "A").Admin != state.want; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: A is %v on %s", state.body, d.FSM().Servers().Get("app", "A").Admin, c.Configs[i].Node.ID)
				}
			}
		}
	}
}

// TestOpsSetServerAdminNoToken: without a write token configured the page
// shows no buttons and the endpoint answers 403 with the reason.
func TestOpsSetServerAdminNoToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := StartDev(ctx, DevOptions{DataDir: t.TempDir(), Logger: log, RaftLogLevel: "error", RaftTimeout: 300 * time.Millisecond, Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	ops := "http://" + c.Nodes[0].OpsAddr()
	code, body := opsPost(t, ops+"/servers/app/A/admin", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer whatever-token-0123"}, `{"admin":"drain"}`)
	if code != http.StatusForbidden || !strings.Contains(body, "no admin token with role write") {
		t.Fatalf("without tokens: %d %s", code, body)
	}
	if page := httpGet(t, ops+"/"); strings.Contains(page, `class="act"`) || strings.Contains(page, "<script>") {
		t.Fatal("page without a write token shows buttons")
	}
}

// TestOpsWrites: beyond loopback the endpoint takes no token unless
// http.writes says so.
func TestOpsWrites(t *testing.T) {
	for _, tc := range []struct {
		bind   string
		writes bool
		ok     bool
	}{{"127.0.0.1:0", false, true}, {"0.0.0.0:0", false, false}, {"0.0.0.0:0", true, true}} {
		ln, err := net.Listen("tcp", tc.bind)
		if err != nil {
			t.Fatal(err)
		}
		d := &Daemon{cfg: &config.Config{HTTP: config.HTTP{Addr: tc.bind, Writes: tc.writes}}, opsLn: ln}
		ok, why := d.opsWrites()
		ln.Close()
		if ok != tc.ok || (!ok && !strings.Contains(why, "http.writes")) {
			t.Errorf("%s writes=%v: %v %q, want %v", tc.bind, tc.writes, ok, why, tc.ok)
		}
	}
}

func FuzzParseOpsAdmin(f *testing.F) {
	for _, s := range []string{`{"admin":"drain"}`, `{"admin":"READY"}`, `{"admin":"maint","x":1}`, `{"admin":""}`, `admin=drain`, `{"admin":"unspecified"}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseOpsAdmin(bytes.NewReader(b))
		if err == nil && st != adminpb.AdminState_ADMIN_DRAIN && st != adminpb.AdminState_ADMIN_READY && st != adminpb.AdminState_ADMIN_MAINT {
			t.Fatalf("%q: state %v", b, st)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("%q: an error without a reason", b)
		}
	})
}
