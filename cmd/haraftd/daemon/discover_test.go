package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover/ec2emu"
)

// A node whose backend has no server of its own but servers_from EC2
// tags: the instances the emulator runs with the tag (at 127.0.0.1 and a
// real application server's port) take its traffic, one that is
// terminated drains and leaves, and a second backend whose tags match
// nothing says so in /status and /metrics and gets no server.
func TestDaemonServersFromEC2(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDISCOVERDAEMON")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "discover-daemon-secret")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	emu := ec2emu.New(ec2emu.Options{Seed: 9, Credentials: []ec2emu.Credentials{{AccessKey: "AKIDDISCOVERDAEMON", Secret: "discover-daemon-secret"}}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)

	// One application server on loopback; both instances point at it
	// (127.0.0.1 and 127.0.0.2), each answering with its address.
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
		_, _ = io.WriteString(w, host)
	}), ReadHeaderTimeout: 5 * time.Second}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := aln.Addr().(*net.TCPAddr).Port
	aln2, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2:%d: %v", port, err)
	}
	go func() { _ = app.Serve(aln) }()
	go func() { _ = app.Serve(aln2) }()
	t.Cleanup(func() { _ = app.Close() })
	for _, in := range []ec2emu.Instance{
		{ID: "i-web1", PrivateIP: "127.0.0.1", Tags: map[string]string{"role": "web"}},
		{ID: "i-web2", PrivateIP: "127.0.0.2", Tags: map[string]string{"role": "web"}},
	} {
		if err := emu.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}

	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := oneNodeConfig(t, rln.Addr().String(), "127.0.0.1:9", nil)
	cfg.Frontends = []config.Frontend{{Name: "web", Bind: "127.0.0.1:0", Backend: "pool"}}
	from := func(role string) *config.ServersFrom {
		return &config.ServersFrom{EC2: &config.DiscoverEC2{Tags: map[string]string{"role": role}, Port: port, Region: "us-east-1", Endpoint: srv.URL},
			Interval: config.Duration{Duration: 100 * time.Millisecond}, DeregistrationDelay: config.Duration{Duration: 200 * time.Millisecond},
			MaxRemoveShare: 0.5, Weight: 1}
	}
	cfg.Backends = append(cfg.Backends,
		config.Backend{Name: "pool", Balance: config.BalanceRoundRobin, LearnCommit: config.LearnCommitAsync, ServersFrom: from("web")},
		config.Backend{Name: "nothing", Balance: config.BalanceRoundRobin, LearnCommit: config.LearnCommitAsync, ServersFrom: from("none")})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	d, err := Start(cfg, Options{Logger: log, RaftListener: rln, RaftLogLevel: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; /status discovery: %+v", what, d.Discovery())
			}
		}
	}
	<-d.Serving()
	url := "http://" + d.Frontends()[0].Addr().String() + "/"
	seen := func() map[string]bool {
		got := map[string]bool{}
		for range 6 {
			resp, err := http.Get(url)
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				got[string(b)] = true
			}
		}
		return got
	}
	waitFor("both instances serving", func() bool { s := seen(); return s["127.0.0.1"] && s["127.0.0.2"] })

	if err := emu.SetInstanceState("i-web2", "terminated"); err != nil {
		t.Fatal(err)
	}
	waitFor("i-web2 removed", func() bool { return d.FSM().Servers().Get("pool", "i-web2").Removed })
	waitFor("only i-web1 serving", func() bool { s := seen(); return s["127.0.0.1"] && !s["127.0.0.2"] })

	// /status: the pool's last success and targets; the empty filter's
	// error, and no server for that backend.
	var st Status
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+d.OpsAddr()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	byBackend := map[string]DiscoveryStatus{}
	for _, s := range st.Discovery {
		byBackend[s.Backend] = s
	}
	if p := byBackend["pool"]; p.Kind != "ec2" || p.LastSuccess.IsZero() || len(p.Targets) != 1 || p.Targets[0] != "i-web1" || p.Removed != 1 {
		t.Errorf("pool discovery: %+v", p)
	}
	if n := byBackend["nothing"]; n.LastErrorKind != "empty" || !strings.Contains(n.LastError, "role=none") || !strings.Contains(n.LastError, "matches nothing") {
		t.Errorf("nothing discovery: %+v", n)
	}
	for k, s := range d.FSM().Servers().All() {
		if k.Backend == "nothing" {
			t.Errorf("backend nothing got server %s: %+v", k.Name, s)
		}
	}
	metrics := httpGet(t, "http://"+d.OpsAddr()+"/metrics")
	for _, want := range []string{
		`haraft_discovery_errors_total{backend="nothing",kind="empty",node_id="n1",source="ec2"}`,
		`haraft_discovery_changes_total{backend="pool",change="removed",node_id="n1",source="ec2"} 1`,
		`haraft_discovery_targets{backend="pool",node_id="n1",source="ec2"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
