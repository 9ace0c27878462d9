package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
)

// syncBuffer is a bytes.Buffer safe for the daemon's writers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevLogStreamAndCleanStop runs haraftd -dev -log-format json in
// process (free ports) and stops it as Ctrl-C does: every line of the
// daemon log is one JSON object (Raft's lines included, through the same
// handler), none is at ERROR, and the temporary data dir is gone.
func TestDevLogStreamAndCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	freePorts := func(dir string) daemon.DevOptions { return daemon.DevOptions{DataDir: dir} }
	go func() {
		done <- runContext(ctx, []string{"-dev", "-log-format", "json", "-log-level", "debug"}, &stdout, &stderr, freePorts)
	}()
	dirRe := regexp.MustCompile(`data in (\S+)\)`)
	var dir string
	deadline := time.Now().Add(60 * time.Second)
	for dir == "" {
		if m := dirRe.FindStringSubmatch(stdout.String()); m != nil {
			dir = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("haraftd -dev exited %d:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cluster after 60s:\n%s", stderr.String())
		}
	}
	time.Sleep(time.Second) // some Raft traffic (debug lines) while running
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no exit 60s after Ctrl-C")
	}
	raftLines := 0
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("not a JSON line: %q", sc.Text())
			continue
		}
		if rec["level"] == "ERROR" {
			t.Errorf("ERROR at a clean stop: %s", sc.Text())
		}
		if rec["logger"] == "raft" {
			raftLines++
		}
	}
	if raftLines == 0 {
		t.Error("no Raft line in the stream: hclog is not routed through it")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data dir %s left behind (%v)", dir, err)
	}
}
