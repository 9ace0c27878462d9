//go:build integration

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// upgradeLoad is what the load goroutines saw.
type upgradeLoad struct {
	mu      sync.Mutex
	ok      int
	refused int      // ECONNREFUSED: the kernel had no listening socket
	failed  []string // any other error or a non-200 answer
	// retried: the client re-sent on a new connection because the old
	// process closed the idle keep-alive connection as it drained;
	// retrySent: it had written the request on the closed one already (an
	// HTTP/1.1 race every server that closes idle connections has; RFC 9112
	// 9.3.1 lets clients retry idempotent requests). The backend's count
	// shows whether any such request was also forwarded.
	retried   int
	retrySent int
	lat       []time.Duration
	during    []time.Duration // latencies of requests that overlapped the upgrade
}

// TestSIGUSR2Upgrade runs the built haraftd binary, puts it under load
// (keep-alive and new-connection requests) and sends SIGUSR2: the new
// process takes the frontend socket, the old one exits 0, and no
// connection is refused and no request fails. It reports the latency of
// the requests that waited for the hand-over.
func TestSIGUSR2Upgrade(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build haraftd with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "haraftd")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Skipf("cannot build haraftd: %v\n%s", err, out)
	}
	var backendHits atomic.Int64 // a re-sent request the old process had forwarded would count twice
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
		_, _ = io.WriteString(w, "hello\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	defer backend.Close()
	raft, web, ops := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "node.yaml")
	y := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft: {bind: %s, peers: [{id: n1, addr: %s}], insecure: true, heartbeat_timeout: 200ms, election_timeout: 200ms, leader_lease_timeout: 100ms}
http: {addr: %s}
backends: [{name: app, servers: [{name: A, addr: %s}]}]
frontends:
  - {name: web, bind: %s, backend: app}
`, filepath.Join(dir, "data"), raft, raft, ops, bln.Addr(), web)
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "haraftd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	readLog := func() string { // the daemon's lines, not the access log's
		b, _ := os.ReadFile(logPath)
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	cmd := exec.Command(bin, "-config", file, "-log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	newPID := 0
	defer func() {
		_ = cmd.Process.Kill()
		if newPID > 0 {
			stopPID(t, newPID)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out; log:\n%s", what, readLog())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	status := func() (daemon.Status, bool) {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + ops + "/status")
		if err != nil {
			return daemon.Status{}, false
		}
		defer resp.Body.Close()
		var s daemon.Status
		return s, json.NewDecoder(resp.Body).Decode(&s) == nil && s.Ready
	}
	waitFor("the node serves", func() bool { _, ok := status(); return ok })

	// A new process that cannot start (here: the file it reads is bad)
	// leaves the old one serving.
	if err := os.WriteFile(file, []byte(y+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor("the failed upgrade logged", func() bool { return strings.Contains(readLog(), "upgrade failed, this process keeps serving") })
	if _, ok := status(); !ok {
		t.Fatalf("the old process stopped serving after a failed upgrade; log:\n%s", readLog())
	}
	if resp, err := http.Get("http://" + web + "/"); err != nil {
		t.Fatalf("the frontend after a failed upgrade: %v", err)
	} else {
		resp.Body.Close()
	}
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := status()
	backendHits.Store(0) // from here on, the load's requests only

	var load upgradeLoad
	var upgradeStart, upgradeEnd time.Time
	var phase sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(keepAlive bool) {
		defer wg.Done()
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 90 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			conns, wroteBeforeRetry := 0, false
			wrote := false
			trace := &httptrace.ClientTrace{
				GotConn: func(httptrace.GotConnInfo) {
					conns++
					if conns > 1 && wrote {
						wroteBeforeRetry = true
					}
				},
				WroteRequest: func(httptrace.WroteRequestInfo) { wrote = true },
			}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+web+"/", nil)
			t0 := time.Now()
			resp, err := c.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && (resp.StatusCode != 200 || string(body) != "hello\n") {
					err = fmt.Errorf("status %d body %q", resp.StatusCode, body)
				}
			}
			t1 := time.Now()
			load.mu.Lock()
			switch {
			case errors.Is(err, syscall.ECONNREFUSED):
				load.refused++
			case err != nil:
				load.failed = append(load.failed, err.Error())
			default:
				load.ok++
				load.lat = append(load.lat, t1.Sub(t0))
				phase.Lock()
				if !upgradeStart.IsZero() && t1.After(upgradeStart) && (upgradeEnd.IsZero() || t0.Before(upgradeEnd)) {
					load.during = append(load.during, t1.Sub(t0))
				}
				phase.Unlock()
			}
			if conns > 1 {
				load.retried++
				if wroteBeforeRetry {
					load.retrySent++
				}
			}
			load.mu.Unlock()
		}
	}
	for i := range 4 {
		wg.Add(1)
		go worker(i%2 == 0)
	}
	time.Sleep(time.Second)

	phase.Lock()
	upgradeStart = time.Now()
	phase.Unlock()
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the old process: %v; log:\n%s", err, readLog())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("the old process did not exit; log:\n%s", readLog())
	}
	m := regexp.MustCompile(`upgrade: started the new binary.* pid=(\d+)`).FindAllStringSubmatch(readLog(), -1)
	if len(m) != 2 {
		t.Fatalf("want two new processes in the log (the failed and the good one):\n%s", readLog())
	}
	newPID, _ = strconv.Atoi(m[1][1])
	waitFor("the new process serves", func() bool { return strings.Count(readLog(), `msg=serving`) >= 2 })
	phase.Lock()
	upgradeEnd = time.Now()
	phase.Unlock()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	after, ok := status()
	if !ok {
		t.Fatalf("the new process's /status is not ready; log:\n%s", readLog())
	}
	if after.Node != before.Node || after.Leader != before.Leader || after.AppliedIndex < before.AppliedIndex {
		t.Errorf("node state moved: before %+v after %+v", before, after)
	}
	log := readLog()
	if strings.Contains(strings.ToLower(log), "eip") {
		t.Errorf("the log mentions EIPs during an upgrade:\n%s", log)
	}
	load.mu.Lock()
	defer load.mu.Unlock()
	hits := int(backendHits.Load())
	pct := func(d []time.Duration, p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	t.Logf("requests ok %d (backend saw %d), refused %d, failed %d, client re-sent on a new connection %d (%d after writing it); "+
		"all: p50 %v p99 %v max %v; during the hand-over (%d, %v): p50 %v p99 %v max %v",
		load.ok, hits, load.refused, len(load.failed), load.retried, load.retrySent,
		pct(load.lat, .5), pct(load.lat, .99), pct(load.lat, 1),
		len(load.during), upgradeEnd.Sub(upgradeStart).Round(time.Millisecond), pct(load.during, .5), pct(load.during, .99), pct(load.during, 1))
	// Health checks do not run without a check option, so the backend sees
	// the load's requests only.
	if load.refused > 0 || len(load.failed) > 0 || hits != load.ok {
		t.Errorf("refused %d, failed %d %q, backend saw %d requests for %d answered; log:\n%s", load.refused, len(load.failed), load.failed, hits, load.ok, log)
	}
	if load.ok == 0 || len(load.during) == 0 {
		t.Errorf("no request measured (ok %d, during the hand-over %d)", load.ok, len(load.during))
	}
}

// stopPID stops a process that is not this one's child (the new haraftd
// belongs to the old one, which exited).
func stopPID(t *testing.T, pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("the new haraftd (pid %d) did not stop on SIGTERM", pid)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
