package daemon

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy"
)

// TestMaxConnDaemon: global.maxconn and frontends[].maxconn reach the
// frontends, and /metrics shows each frontend's connections (current, max,
// total) and the process's.
func TestMaxConnDaemon(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from A\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	t.Cleanup(func() { _ = backend.Close() })
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	for _, tc := range []struct {
		name                          string
		global, web, web2             int // configured maxconn
		wantGlobal, wantWeb, wantWeb2 int // max in /metrics
	}{
		{name: "set", global: 3, web: 1, wantGlobal: 3, wantWeb: 1, wantWeb2: 3},
		{name: "derived", web: 2, wantGlobal: proxy.DefaultMaxConn(rl.Cur), wantWeb: 2, wantWeb2: proxy.DefaultMaxConn(rl.Cur)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg := oneNodeConfig(t, rln.Addr().String(), bln.Addr().String(), nil)
			cfg.Frontends[1].Name = "web2"
			cfg.Global.MaxConn = tc.global
			cfg.Frontends[0].MaxConn = tc.web
			d := startServing(t, cfg, Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})

			// One keep-alive connection to web, left open.
			c, err := net.Dial("tcp", d.Frontends()[0].Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("request: %v %v", resp, err)
			}

			body := httpGet(t, "http://"+d.OpsAddr()+"/metrics")
			for _, want := range []string{
				`haraft_frontend_connections{frontend="web",node_id="n1",state="current"} 1`,
				fmt.Sprintf(`haraft_frontend_connections{frontend="web",node_id="n1",state="max"} %d`, tc.wantWeb),
				`haraft_frontend_connections{frontend="web2",node_id="n1",state="current"} 0`,
				fmt.Sprintf(`haraft_frontend_connections{frontend="web2",node_id="n1",state="max"} %d`, tc.wantWeb2),
				`haraft_frontend_connections_total{frontend="web",node_id="n1"} 1`,
				`haraft_frontend_connections_total{frontend="web2",node_id="n1"} 0`,
				`haraft_connections{node_id="n1",state="current"} 1`,
				fmt.Sprintf(`haraft_connections{node_id="n1",state="max"} %d`, tc.wantGlobal),
			} {
				if !strings.Contains(body, want+"\n") {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}
