package accesslog

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond with a generous deadline (busy machines).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFileReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	w, err := NewWriter(Options{Target: Target{Kind: TargetFile, Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := sampleLine()
	want := string(AppendHTTP(nil, &l)) + "\n"
	w.Log(&l)
	waitFor(t, "first line", func() bool { return w.Stats().Lines == 1 })
	// logrotate: rename, then ask for a reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Status = 404
	w.Log(&l) // still goes to the renamed file (same descriptor)
	waitFor(t, "second line", func() bool { return w.Stats().Lines == 2 })
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Status = 500
	w.Log(&l)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("not reopened: %v", err)
	}
	l.Status = 404
	want2 := string(AppendHTTP(nil, &l)) + "\n"
	if string(old) != want+want2 {
		t.Errorf("rotated file:\n%s", old)
	}
	l.Status = 500
	if string(cur) != string(AppendHTTP(nil, &l))+"\n" {
		t.Errorf("new file:\n%s", cur)
	}
	if s := w.Stats(); s.Reopens != 1 || s.Lines != 3 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

var syslogRE = regexp.MustCompile(`^<134>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) \S+ haraft-test \d+ - - (.*)$`)

func checkSyslog(t *testing.T, got []byte, want string) {
	t.Helper()
	m := syslogRE.FindSubmatch(got)
	if m == nil {
		t.Fatalf("not an RFC 5424 line from local0.info: %q", got)
	}
	if string(m[2]) != want {
		t.Errorf("message %q, want %q", m[2], want)
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tg, err := ParseTarget("udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fac, _ := ParseFacility("local0")
	w, err := NewWriter(Options{Target: tg, Facility: fac, Tag: "haraft-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := sampleLine()
	w.Log(&l)
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, buf[:n], string(AppendHTTP(nil, &l)))
}

func TestSyslogUnixgram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fac, _ := ParseFacility("local0")
	w, err := NewWriter(Options{Target: Target{Kind: TargetUnix, Path: path}, Facility: fac, Tag: "haraft-test", Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := sampleLine()
	w.Log(&l)
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, buf[:n], string(AppendJSON(nil, &l)))
}

func TestSyslogServerLaterUp(t *testing.T) {
	// A syslog socket that is not there yet: lines fail and are counted,
	// the writer dials again and delivers once it is.
	path := filepath.Join(t.TempDir(), "log.sock")
	w, err := NewWriter(Options{Target: Target{Kind: TargetUnix, Path: path}, Tag: "haraft-test", Facility: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := sampleLine()
	w.Log(&l)
	waitFor(t, "a counted error", func() bool { return w.Stats().Errors == 1 })
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	w.Log(&l)
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSyslog(t, buf[:n], string(AppendHTTP(nil, &l)))
}

// blockingWriter blocks every Write until released: a stuck disk.
type blockingWriter struct {
	entered chan struct{} // closed when the first Write began
	once    sync.Once
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func TestSlowTargetDropsNeverBlocks(t *testing.T) {
	bw := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: bw, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	l := sampleLine()
	w.Log(&l)
	<-bw.entered // the writer is stuck in its first write
	done := make(chan struct{})
	go func() {
		for range 99 {
			w.Log(&l)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Log blocked behind a stuck writer")
	}
	// One line is in the stuck Write, four wait in the queue.
	if d := w.Stats().Dropped; d != 95 {
		t.Errorf("dropped %d, want 95", d)
	}
	close(bw.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Lines+s.Dropped != 100 {
		t.Errorf("stats %+v: lines+dropped != 100", s)
	}
	if n := strings.Count(bw.buf.String(), "\n"); uint64(n) != s.Lines {
		t.Errorf("%d lines written, %d counted", n, s.Lines)
	}
	w.Log(&l) // after Close: dropped, no panic
	if w.Stats().Dropped != s.Dropped+1 {
		t.Error("line after Close not counted as dropped")
	}
}

func TestStdoutBatches(t *testing.T) {
	r, wr := io.Pipe()
	w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: wr, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	l := sampleLine()
	go func() {
		for range 50 {
			w.Log(&l)
		}
		_ = w.Close()
		_ = wr.Close()
	}()
	all, _ := io.ReadAll(r)
	want := strings.Repeat(string(AppendJSON(nil, &l))+"\n", 50)
	if string(all) != want {
		t.Errorf("got %d bytes, want %d", len(all), len(want))
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		err  bool
	}{
		{"stdout", Target{Kind: TargetStdout}, false},
		{"stderr", Target{Kind: TargetStderr}, false},
		{"file:/var/log/a.log", Target{Kind: TargetFile, Path: "/var/log/a.log"}, false},
		{"/var/log/a.log", Target{Kind: TargetFile, Path: "/var/log/a.log"}, false},
		{"file:rel.log", Target{}, true},
		{"file:/var/log/", Target{}, true},
		{"udp://127.0.0.1:514", Target{Kind: TargetUDP, Addr: "127.0.0.1:514"}, false},
		{"udp://127.0.0.1", Target{Kind: TargetUDP, Addr: "127.0.0.1:514"}, false},
		{"udp://[::1]:1514", Target{Kind: TargetUDP, Addr: "[::1]:1514"}, false},
		{"udp://[::1]", Target{Kind: TargetUDP, Addr: "[::1]:514"}, false},
		{"udp://logs.example:514", Target{Kind: TargetUDP, Addr: "logs.example:514"}, false},
		{"udp://", Target{}, true},
		{"udp://h:0", Target{}, true},
		{"udp://h:99999", Target{}, true},
		{"udp://:514", Target{}, true},
		{"unix:///dev/log", Target{Kind: TargetUnix, Path: "/dev/log"}, false},
		{"unix://dev/log", Target{}, true},
		{"tcp://127.0.0.1:514", Target{}, true},
		{"", Target{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v", tt.in, got, err)
		}
		if err == nil {
			if again, err := ParseTarget(got.String()); err != nil || again != got {
				t.Errorf("String round trip of %q: %+v %v", tt.in, again, err)
			}
		}
	}
	if f, err := ParseFacility("local0"); err != nil || f != 16 {
		t.Errorf("local0 = %d %v", f, err)
	}
	if _, err := ParseFacility("local8"); err == nil {
		t.Error("local8 accepted")
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"stdout", "file:/a", "/a/b", "udp://127.0.0.1:514", "udp://[::1]", "unix:///dev/log", "udp://[", "udp://a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		again, err := ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}

func BenchmarkLog(b *testing.B) {
	w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	l := sampleLine()
	l.Start = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		w.Log(&l)
	}
}

// countingWriter counts Write calls.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) counts() (writes, lines int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, strings.Count(c.buf.String(), "\n")
}

// Lines logged while the writer gathers go out in one write: a busy proxy
// does not pay a goroutine wakeup and a write(2) per line.
func TestLinesGatherIntoOneWrite(t *testing.T) {
	l := sampleLine()
	t.Run("close flushes one batch", func(t *testing.T) {
		cw := &countingWriter{}
		w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: cw, Queue: 400, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for range 99 { // below a quarter of the queue: no early wake
			w.Log(&l)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if writes, lines := cw.counts(); writes != 1 || lines != 99 {
			t.Errorf("%d writes carrying %d lines, want 1 write of 99", writes, lines)
		}
	})
	t.Run("a quarter-full queue wakes the writer", func(t *testing.T) {
		cw := &countingWriter{}
		w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: cw, Queue: 400, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for range 150 {
			w.Log(&l)
		}
		// The wake writes what is queued then; lines logged after that
		// wait for the (hour-long) interval, so only the first 100 are
		// sure to be out.
		waitFor(t, "100 lines without Close", func() bool { _, n := cw.counts(); return n >= 100 })
	})
	t.Run("interval ends the wait", func(t *testing.T) {
		cw := &countingWriter{}
		w, err := NewWriter(Options{Target: Target{Kind: TargetStdout}, Stdout: cw, FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		w.Log(&l)
		waitFor(t, "one line without Close", func() bool { _, n := cw.counts(); return n == 1 })
	})
}
