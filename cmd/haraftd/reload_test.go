package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReload runs haraftd as the command does, changes its file and
// sends SIGHUP: a second frontend starts serving, a bad file is refused
// with its line, and SIGTERM still stops the node cleanly.
func TestSIGHUPReload(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	defer backend.Close()
	raft, web, web2 := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node.yaml")
	write := func(extra string) {
		y := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft: {bind: %s, peers: [{id: n1, addr: %s}], heartbeat_timeout: 200ms, election_timeout: 200ms, leader_lease_timeout: 100ms}
http: {addr: 127.0.0.1:0}
backends: [{name: app, servers: [{name: A, addr: %s}]}]
frontends:
  - {name: web, bind: %s, backend: app}
%s`, filepath.Join(dir, "data"), raft, raft, bln.Addr(), web, extra)
		if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-config", file, "-log-level", "info"}, &out, &errb) }()
	get := func(addr string) bool {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			select {
			case code := <-done:
				t.Fatalf("haraftd exited %d:\n%s", code, errb.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out; log:\n%s", what, errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("web serves", func() bool { return get(web) })

	write(fmt.Sprintf("  - {name: web2, bind: %s, backend: app}\n", web2))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("web2 serves after SIGHUP", func() bool { return get(web2) })

	write("  - {name: web3, bind: nowhere, backend: app}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the bad file refused", func() bool { return strings.Contains(errb.String(), "config reload refused") })
	if log := errb.String(); !strings.Contains(log, file+":7: frontends[1].bind") {
		t.Errorf("the refusal does not name the line and field:\n%s", log)
	}
	if !get(web) || !get(web2) { // the refused file had no web2
		t.Error("the running config changed after a refused reload")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("haraftd did not stop on SIGTERM")
	}
}
