package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/proxy/proxyproto"
)

// TestTCPCheckEndToEnd runs haraftd from a config file as the README shows
// it: a mode tcp backend whose check is tcp_check (send PING, expect
// +PONG) on a Redis-like server behind send_proxy: v2. While the server
// answers +PONG it is agreed up and the frontend relays to it; when its
// answer changes to -LOADING it is agreed down, the log naming the step
// that failed; when +PONG comes back it is agreed up again.
func TestTCPCheckEndToEnd(t *testing.T) {
	var loading atomic.Bool
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				if _, err := proxyproto.Read(r); err != nil {
					return // send_proxy: checks and relayed connections alike begin with a header
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil || strings.TrimSpace(line) != "PING" {
						return
					}
					if loading.Load() {
						_, _ = io.WriteString(c, "-LOADING\r\n")
						return
					}
					_, _ = io.WriteString(c, "+PONG\r\n")
				}
			}()
		}
	}()
	raft, front, ops := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node.yaml")
	y := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft: {bind: %s, peers: [{id: n1, addr: %s}], heartbeat_timeout: 200ms, election_timeout: 200ms, leader_lease_timeout: 100ms}
http: {addr: %s}
frontends: [{name: db, bind: %s, backend: redis, mode: tcp}]
backends:
  - name: redis
    mode: tcp
    check:
      inter: 500ms
      rise: 1
      fall: 1
      tcp_check:
        - send: PING\r\n
        - expect: {string: "+PONG"}
    servers: [{name: R, addr: %s, send_proxy: v2}]
`, filepath.Join(dir, "data"), raft, raft, ops, front, srv.Addr())
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	if code := runContext(context.Background(), []string{"-check", "-config", file}, &out, &errb, daemon.DefaultDevOptions); code != 0 {
		t.Fatalf("-check exited %d:\n%s%s", code, out.String(), errb.String())
	}
	done, stop := runConfig(t, file, &out, &errb)
	defer stop()
	// health waits for the agreed health gauge (1 up, 2 down).
	health := func(want string) {
		t.Helper()
		const series = `haraft_server_health{backend="redis",node_id="n1",server="R"} `
		var last string
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			select {
			case code := <-done:
				t.Fatalf("haraftd exited %d:\n%s", code, errb.String())
			default:
			}
			if resp, err := http.Get("http://" + ops + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for l := range strings.SplitSeq(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, series); ok {
						last = v
					}
				}
				if last == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("agreed health %q, want %s:\n%s", last, want, errb.String())
			}
		}
	}
	ping := func() string {
		t.Helper()
		c, err := net.DialTimeout("tcp", front, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.WriteString(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}

	health("1")
	if got := ping(); got != "+PONG\r\n" {
		t.Fatalf("through the frontend: %q", got)
	}
	loading.Store(true)
	health("2")
	const reason = `step 2: expect string \"+PONG\" not found in 10 bytes: the server closed the connection (\"-LOADING\\r\\n\")`
	if !strings.Contains(errb.String(), reason) {
		t.Fatalf("the log does not give the reason %s:\n%s", reason, errb.String())
	}
	loading.Store(false)
	health("1")
	if got := ping(); got != "+PONG\r\n" {
		t.Fatalf("through the frontend after the server came back: %q", got)
	}
}
