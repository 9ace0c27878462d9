package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/proxyproto"
)

// TestProxyProtocolEndToEnd runs haraftd from a config file as the README
// shows it: a mode tcp frontend with accept_proxy and a server with
// send_proxy: v2. The server learns the client the PROXY header named, the
// tcplog line in the access log names it, and a connection without a header
// reaches no server.
func TestProxyProtocolEndToEnd(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	accepted := make(chan string, 8)
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				h, err := proxyproto.Read(c)
				if err != nil {
					accepted <- "error: " + err.Error()
					return
				}
				accepted <- h.Source.String()
				_, _ = fmt.Fprintf(c, "%s\n", h.Source)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	raft, front := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node.yaml")
	y := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft: {bind: %s, peers: [{id: n1, addr: %s}], heartbeat_timeout: 200ms, election_timeout: 200ms, leader_lease_timeout: 100ms}
http: {addr: 127.0.0.1:0}
access_log: {target: "file:%s"}
backends: [{name: app, mode: tcp, servers: [{name: S, addr: %s, send_proxy: v2}]}]
frontends: [{name: t, bind: %s, backend: app, mode: tcp, accept_proxy: true}]
`, filepath.Join(dir, "data"), raft, raft, filepath.Join(dir, "access.log"), srv.Addr(), front)
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	done, stop := runConfig(t, file, &out, &errb)
	defer stop()
	const header = "PROXY TCP4 203.0.113.5 198.51.100.1 4000 7777\r\n"
	var got string
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("haraftd exited %d:\n%s", code, errb.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", front, 2*time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, header)
			got, err = bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frontend never relayed:\n%s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.TrimSpace(got) != "203.0.113.5:4000" {
		t.Fatalf("the server learned %q, want the header's client 203.0.113.5:4000", got)
	}
	if s := <-accepted; s != "203.0.113.5:4000" {
		t.Fatalf("server: %s", s)
	}
	accessLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "access.log")); return string(b) }
	for !strings.Contains(accessLog(), "203.0.113.5:4000 [") {
		if time.Now().After(deadline) {
			t.Fatalf("no tcplog line for the header's client in the access log:\n%s", accessLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l := accessLog(); !strings.Contains(l, "] t app/S ") {
		t.Fatalf("tcplog line: %s", l)
	}

	// No header: closed, and the server never hears of it.
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.WriteString(c, "hello without a header\r\n")
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection without a header was relayed")
	}
	select {
	case s := <-accepted:
		t.Fatalf("the server got a connection: %s", s)
	default:
	}
}
