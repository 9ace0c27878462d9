package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShutdownGrace runs haraftd as the command does with a mode tcp
// frontend and one open connection, and stops it with SIGTERM: under
// timeouts.shutdown: 1h the connection still relays bytes after the old
// hard-coded 15 s and the node stops once the client leaves; under 1s the
// node closes the connection itself and stops.
func TestShutdownGrace(t *testing.T) {
	for _, tc := range []struct {
		name, grace string
		long        bool
	}{
		{"grace 1h outlives 15s", "1h", true},
		{"grace 1s closes the connection", "1s", false},
	} {
		t.Run(tc.name, func(t *testing.T) { shutdownGraceCase(t, tc.grace, tc.long) })
	}
}

func shutdownGraceCase(t *testing.T, grace string, long bool) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	raft, front := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node.yaml")
	y := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft: {bind: %s, peers: [{id: n1, addr: %s}], heartbeat_timeout: 200ms, election_timeout: 200ms, leader_lease_timeout: 100ms}
http: {addr: 127.0.0.1:0}
timeouts: {shutdown: %s, tunnel: 2h}
backends: [{name: echo, mode: tcp, servers: [{name: E, addr: %s}]}]
frontends: [{name: t, bind: %s, backend: echo, mode: tcp}]
`, filepath.Join(dir, "data"), raft, raft, grace, echo.Addr(), front)
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-config", file, "-log-level", "info"}, &out, &errb) }()
	var conn net.Conn
	var br *bufio.Reader
	roundTrip := func(msg string) error {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, msg+"\n"); err != nil {
			return err
		}
		got, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if got != msg+"\n" {
			return fmt.Errorf("echo %q, want %q", got, msg)
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("haraftd exited %d:\n%s", code, errb.String())
		default:
		}
		if conn, err = net.DialTimeout("tcp", front, 2*time.Second); err == nil {
			br = bufio.NewReader(conn)
			if err = roundTrip("hello"); err == nil {
				break
			}
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tcp frontend never relayed: %v\n%s", err, errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer conn.Close()

	stopped := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(errb.String(), "shutting down") {
		if time.Since(stopped) > 30*time.Second {
			t.Fatalf("no shutdown logged:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), "grace="+map[bool]string{true: "1h0m0s", false: "1s"}[long]) {
		t.Errorf("the shutdown log does not give the configured grace:\n%s", errb.String())
	}
	if long {
		// A lower bound only: past the old hard-coded 15 s the connection
		// still relays and the node still runs.
		time.Sleep(time.Until(stopped.Add(16 * time.Second)))
		if err := roundTrip("still here"); err != nil {
			t.Fatalf("the connection was cut during a 1h grace: %v", err)
		}
		select {
		case code := <-done:
			t.Fatalf("haraftd exited (%d) with a connection open inside its grace", code)
		default:
		}
		conn.Close()
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		if _, err := br.ReadString('\n'); err == nil {
			t.Fatal("read a line from a connection that should be closed")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the node did not close the connection at the end of its grace")
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("haraftd did not stop:\n%s", errb.String())
	}
}
