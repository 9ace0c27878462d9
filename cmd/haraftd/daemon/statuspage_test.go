package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// opsTestCluster starts a dev cluster (300 ms Raft timeouts,
// steadier than 50 ms ones under -race), a drained
// server, committed sessions and an EIP, so every part of the page and of
// /metrics has something to show.
func opsTestCluster(t *testing.T) *DevCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := StartDev(ctx, DevOptions{DataDir: t.TempDir(), Logger: log, RaftLogLevel: "error", RaftTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	n := c.Nodes[0].Node()
	var nodes []*cluster.Node
	for _, d := range c.Nodes {
		nodes = append(nodes, d.Node())
	}
	// Administrative commands, as the leader's admin API proposes them.
	apply := func(mt fsm.MessageType, m proto.Message) {
		t.Helper()
		if _, err := cluster.ApplyOnLeader(ctx, nodes, mt, m); err != nil {
			t.Fatal(err)
		}
	}
	apply(fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: []*fsmpb.Binding{
		{Backend: "app", Key: "k1", Server: "A"}, {Backend: "app", Key: "k2", Server: "B"}, {Backend: "app", Key: "k3", Server: "A"}}})
	apply(fsm.SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "B", Admin: fsmpb.AdminState_ADMIN_DRAIN})
	apply(fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "eipalloc-0demo", Address: "198.51.100.10", HomeAz: "dev-a", Holder: "n2", Term: n.Raft().CurrentTerm(), Reason: "home AZ"}})
	for _, d := range c.Nodes {
		for deadline := time.Now().Add(10 * time.Second); d.FSM().SessionCount() < 3 || len(d.FSM().EIPs()) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("state did not reach %s", d.Node().ID())
			}
		}
	}
	return c
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func TestMetrics(t *testing.T) {
	c := opsTestCluster(t)
	d := c.Nodes[2]
	// Three answered requests through n3 (B is drained: new sessions go
	// to A), for the latency histograms.
	for range 3 {
		httpGet(t, "http://"+d.Frontends()[0].Addr().String()+"/")
	}
	// One request the engine refuses itself: counted by reason.
	conn, err := net.Dial("tcp", d.Frontends()[0].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n")
	_, _ = io.ReadAll(conn) // the 400, then the close
	conn.Close()
	body := httpGet(t, "http://"+d.OpsAddr()+"/metrics")
	// The state as the node sees it after the scrape; a change between the
	// two (rare with 300 ms timeouts) would show as a failure here.
	state := d.Node().Raft().State().String()
	for _, want := range []string{
		`haraft_raft_term{node_id="n3"}`,
		`haraft_raft_state{node_id="n3",state="` + state + `"} 1`,
		`haraft_raft_apply_lag{node_id="n3"}`,
		`haraft_raft_last_contact_seconds{node_id="n3"}`,
		`haraft_raft_members{node_id="n3",suffrage="Voter"} 3`,
		`haraft_ready{node_id="n3"} 1`,
		`haraft_sessions{backend="app",node_id="n3",server="B"} 1`,
		`haraft_server_admin_state{backend="app",node_id="n3",server="B",state="drain"} 1`,
		`haraft_server_health{backend="app",node_id="n3",server="A"}`,
		`haraft_server_requests_total{backend="app",node_id="n3",server="A"}`,
		`haraft_frontend_requests_total{backend="app",frontend="web",node_id="n3"} 3`,
		`haraft_frontend_rejects_total{backend="app",frontend="web",node_id="n3",reason="framing",status="400"} 1`,
		`haraft_frontend_rejects_total{backend="app",frontend="web",node_id="n3",reason="uri_too_long",status="414"} 0`,
		`haraft_frontend_request_duration_seconds_count{backend="app",frontend="web",node_id="n3"} 3`,
		`haraft_frontend_request_duration_seconds_bucket{backend="app",frontend="web",node_id="n3",le="10"} 3`,
		`haraft_server_response_seconds_count{backend="app",node_id="n3",server="A"} 3`,
		`haraft_server_response_seconds_bucket{backend="app",node_id="n3",server="A",le="0.0005"}`,
		`haraft_server_response_seconds_count{backend="app",node_id="n3",server="B"} 0`,
		`haraft_proposals_total{node_id="n3",outcome="dropped"}`,
		`haraft_eips{eip="eipalloc-0demo",node="n2",node_id="n3"} 1`,
		`haraft_eip_moves_total{node_id="n3"}`,
		`haraft_events_total{node_id="n3",type="leader_changed"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A holds k1 and k3, plus the sessions the three requests above
	// created: the learner commits them asynchronously, so the scrape may
	// come before, between or after those commits.
	if n := metricValue(body, `haraft_sessions{backend="app",node_id="n3",server="A"}`); n < 2 || n > 5 {
		t.Errorf("haraft_sessions for A = %v, want 2..5", n)
	}
	if t.Failed() {
		t.Log(body)
	}
}

// metricValue returns the value of the sample whose name and labels are
// series in a Prometheus text exposition, or -1 when it has none.
func metricValue(body, series string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return -1
			}
			return f
		}
	}
	return -1
}

func TestStatusPageHTML(t *testing.T) {
	c := opsTestCluster(t)
	page := httpGet(t, "http://"+c.Nodes[1].OpsAddr()+"/")
	for _, want := range []string{`<span id="node">n2</span>`, "dev-b", `id="nodes"`, "n1", "n3", "eipalloc-0demo", "198.51.100.10",
		`id="backends"`, `class="drain"`, "Recent events", `http-equiv="refresh"`,
		`id="frontends"`, `id="servertraffic"`, "Traffic on this node", "<th>5xx/s</th>", "<th>check (mean ms)</th>", "<tr><td>web</td><td>app</td>",
		"Traffic of the cluster", `id="clustertraffic"`, `id="clustertotal"`, "<tr><td>n1</td>", "<tr><td>n3</td>", "frontend web"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script src") {
		t.Error("page refers to an external asset")
	}
}

// chromium returns the headless browser, or skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: install Debian's chromium (apt-get install chromium) to run the status page browser test")
	return ""
}

// TestStatusPageChromium loads the page in headless Chromium against a
// running dev cluster, checks what the browser rendered and saves a
// screenshot among the test's artifacts (kept with go test -artifacts).
func TestStatusPageChromium(t *testing.T) {
	bin := chromium(t)
	c := opsTestCluster(t)
	// Wait for a health view or two and an event to show, as an operator would.
	url := "http://" + c.Nodes[0].OpsAddr() + "/"
	out := t.ArtifactDir()
	profile := t.TempDir()
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
			"--user-data-dir=" + profile, "--window-size=1400,1000", "--hide-scrollbars"}, append(extra, url)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, args("--dump-dom", "--virtual-time-budget=1000")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`<span id="node">n1</span>`, "Nodes", "Elastic IPs", "eipalloc-0demo", "Backends", "drain", "Recent events", "is the leader",
		"Traffic on this node", `id="servertraffic"`, "Traffic of the cluster", `id="clustertraffic"`, `id="clustertotal"`, "frontend web",
		`<button class="act" data-backend="app" data-server="A" data-admin="drain">drain</button>`, `id="actmsg"`} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	shot := filepath.Join(out, "status-page.png")
	cmd := exec.CommandContext(ctx, bin, args("--screenshot="+shot)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, b)
	}
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10<<10 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, st.Size())
	}
	t.Logf("screenshot: %s", shot)
}
