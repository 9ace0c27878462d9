package daemon

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAccessLogDaemon: access_log to a file, on for one frontend and off
// for the other; the file is reopened after logrotate renamed it.
func TestAccessLogDaemon(t *testing.T) {
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from A\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(bln) }()
	t.Cleanup(func() { _ = backend.Close() })
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	cfg := oneNodeConfig(t, rln.Addr().String(), bln.Addr().String(), nil)
	cfg.Frontends[1].Name, cfg.Frontends[1].AccessLog = "quiet", "off"
	cfg.AccessLog.Target = "file:" + path
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	d := startServing(t, cfg, Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})

	get := func(i int, uri string) {
		t.Helper()
		resp, err := http.Get("http://" + d.Frontends()[i].Addr().String() + uri)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitLines := func(p string, n int) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(p)
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(b) > 0 && len(lines) >= n {
				return lines
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d lines, want %d:\n%s", p, len(lines), n, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	lineRE := regexp.MustCompile(`^127\.0\.0\.1:\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] web app/A \d+/\d+/\d+/\d+/\d+ 200 \d+ - - --NI \d+/1/\d+/\d+/0 0/0 "GET /(one|two) HTTP/1\.1"$`)
	get(1, "/quiet") // not logged
	get(0, "/one")
	lines := waitLines(path, 1)
	if len(lines) != 1 || !lineRE.MatchString(lines[0]) || !strings.Contains(lines[0], "/one") {
		t.Fatalf("access log:\n%s", strings.Join(lines, "\n"))
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := d.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	get(0, "/two")
	lines = waitLines(path, 1)
	if len(lines) != 1 || !lineRE.MatchString(lines[0]) || !strings.Contains(lines[0], "/two") {
		t.Fatalf("reopened access log:\n%s", strings.Join(lines, "\n"))
	}

	// A request the engine refuses: logged as PR--, counted as a 4xx.
	c, err := net.Dial("tcp", d.Frontends()[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(c)
	lines = waitLines(path, 2)
	if !regexp.MustCompile(` web web/<NOSRV> -1/-1/-1/-1/\d+ 400 \d+ - - PR-- `).MatchString(lines[1]) {
		t.Errorf("refused request logged as\n%s", lines[1])
	}
	if s, ok := d.AccessLogStats(); !ok || s.Lines != 3 || s.Dropped != 0 || s.Reopens != 1 {
		t.Errorf("stats %+v %v", s, ok)
	}

	// The traffic metrics: responses by class per frontend and server,
	// bytes, peak connections, the access log's lines.
	resp, err := http.Get("http://" + d.OpsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	for _, want := range []string{
		`haraft_frontend_responses_total{backend="app",code="2xx",frontend="web",node_id="n1"} 2`,
		`haraft_frontend_responses_total{backend="app",code="4xx",frontend="web",node_id="n1"} 1`,
		`haraft_frontend_responses_total{backend="app",code="5xx",frontend="web",node_id="n1"} 0`,
		`haraft_frontend_responses_total{backend="app",code="2xx",frontend="quiet",node_id="n1"} 1`,
		`haraft_server_responses_total{backend="app",code="2xx",node_id="n1",server="A"} 3`,
		`haraft_access_log_lines_total{node_id="n1",outcome="written"} 3`,
		`haraft_access_log_lines_total{node_id="n1",outcome="dropped"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// http.Get's kept-alive connection and the raw one were open at once.
	if !strings.Contains(metrics, `haraft_frontend_connections_peak{frontend="web",node_id="n1"} 2`+"\n") {
		t.Errorf("peak connections: %s", regexp.MustCompile(`haraft_frontend_connections_peak.*`).FindAllString(metrics, -1))
	}
	for _, dir := range []string{"in", "out"} {
		m := regexp.MustCompile(`haraft_frontend_bytes_total\{direction="` + dir + `",frontend="web",node_id="n1"\} (\d+)`).FindStringSubmatch(metrics)
		if m == nil || m[1] == "0" {
			t.Errorf("bytes %s: %v", dir, m)
		}
	}
}
