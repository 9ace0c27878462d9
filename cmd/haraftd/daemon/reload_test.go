package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/internal/freeport"
	"github.com/haraft/haraft/proto/fsmpb"
)

// reloadFixture is a one-node cluster started from a config file that the
// test rewrites and reloads.
type reloadFixture struct {
	t       *testing.T
	file    string
	raft    string
	data    string
	servers map[string]string // backend server name -> address
	web     string            // frontend web's bind (stays)
	api     [2]string         // frontend api's two binds (rebound)
}

// freeAddr is a loopback host:port to bind by number (freeport: outside
// the ephemeral range, so no outgoing connection takes it meanwhile).
func freeAddr(t *testing.T) string { return freeport.Addr(t) }

func newReloadFixture(t *testing.T) (*reloadFixture, net.Listener) {
	f := &reloadFixture{t: t, file: filepath.Join(t.TempDir(), "node.yaml"), data: t.TempDir(), servers: map[string]string{}}
	for _, name := range []string{"A", "B", "C"} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello from "+name+"\n")
		}), ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		f.servers[name] = ln.Addr().String()
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.raft = rln.Addr().String()
	f.web = freeAddr(t)
	f.api = [2]string{freeAddr(t), freeAddr(t)}
	return f, rln
}

// variant writes one of the two configs the load test alternates: the
// second gives A weight 3, adds server C, shortens timeout server and
// binds frontend api to its second address. extra is appended verbatim.
func (f *reloadFixture) write(variant int, nodeID, extra string) {
	weightA, serverTimeout, api := 1, "30s", f.api[0]
	serverC := ""
	if variant == 1 {
		weightA, serverTimeout, api = 3, "20s", f.api[1]
		serverC = fmt.Sprintf("      - {name: C, addr: %s}\n", f.servers["C"])
	}
	y := fmt.Sprintf(`node:
  id: %s
  az: a
  data_dir: %s
raft:
  bind: %s
  peers:
    - {id: n1, addr: %s}
  heartbeat_timeout: 200ms
  election_timeout: 200ms
  leader_lease_timeout: 100ms
http:
  addr: 127.0.0.1:0
timeouts:
  server: %s
frontends:
  - name: web
    bind: %s
    backend: app
  - name: api
    bind: %s
    backend: app
backends:
  - name: app
    servers:
      - {name: A, addr: %s, weight: %d}
      - {name: B, addr: %s}
%s%s`, nodeID, f.data, f.raft, f.raft, serverTimeout, f.web, api, f.servers["A"], weightA, f.servers["B"], serverC, extra)
	if err := os.WriteFile(f.file, []byte(y), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func TestLiveReload(t *testing.T) {
	f, rln := newReloadFixture(t)
	f.write(0, "n1", "")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cfg := loadConfig(t, f.file)
	d := startServing(t, cfg, Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})
	hash0 := d.ReloadStatus().ConfigHash

	// Load: keep-alive clients and one-request-per-connection clients on
	// web (its bind stays), counting every failure.
	var ok, failed atomic.Uint64
	var failMu sync.Mutex
	var failures []string
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	load := func(keepAlive bool) {
		defer wg.Done()
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for ctx.Err() == nil {
			resp, err := c.Get("http://" + f.web + "/")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
				}
			}
			if err != nil {
				failed.Add(1)
				failMu.Lock()
				failures = append(failures, err.Error())
				failMu.Unlock()
				continue
			}
			ok.Add(1)
		}
	}
	for i := range 4 {
		wg.Add(1)
		go load(i%2 == 0)
	}

	for i := range 20 {
		v := (i + 1) % 2
		f.write(v, "n1", "")
		before := ok.Load()
		if _, _, err := d.ReloadFile(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
		// frontend api answers at its new bind, with server C in the
		// second config only; the old bind is closed.
		// (The load on web shares the round robin: up to 100 tries.)
		sawC := false
		for range 20 + 80*v {
			if sawC = strings.Contains(httpGet(t, "http://"+f.api[v]+"/"), "from C"); sawC {
				break
			}
		}
		if w := d.live().backends["app"].Servers[0].Weight; w != 1+2*v {
			t.Errorf("reload %d: server A has weight %d, want %d", i+1, w, 1+2*v)
		}
		if sawC != (v == 1) {
			t.Errorf("reload %d (config %d): server C answered: %v", i+1, v, sawC)
		}
		if _, err := net.DialTimeout("tcp", f.api[1-v], time.Second); err == nil {
			t.Errorf("reload %d: the old bind %s of frontend api still accepts", i+1, f.api[1-v])
		}
		// Requests flow between reloads.
		deadline := time.Now().Add(20 * time.Second)
		for ok.Load() < before+20 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop()
	wg.Wait()
	t.Logf("20 reloads under load: %d requests ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d failed requests during reloads, e.g. %v", failed.Load(), failures[:min(5, len(failures))])
	}
	if ok.Load() < 40 {
		t.Errorf("only %d requests went through", ok.Load())
	}
	rs := d.ReloadStatus()
	if rs.Reloads != 20 || rs.Failures != 0 || !rs.LastOK || rs.ConfigHash != hash0 {
		t.Errorf("reload status %+v, want 20 reloads, none failed, the first config's hash %s again", rs, hash0)
	}
	metrics := httpGet(t, "http://"+d.OpsAddr()+"/metrics")
	for _, want := range []string{`haraft_config_reloads_total{node_id="n1",result="ok"} 20`, `haraft_config_info{hash="` + hash0 + `",node_id="n1"} 1`, `haraft_config_last_reload_success{node_id="n1"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(httpGet(t, "http://"+d.OpsAddr()+"/status"), `"config_hash":"`+hash0+`"`) {
		t.Error("/status lacks the config hash")
	}
}

// TestReloadRefused: a file that fails validation, one that changes what
// needs a restart, and one whose server collides with a server added
// through the admin API are refused with file:line: field: reason, and the
// node keeps serving its running config.
func TestReloadRefused(t *testing.T) {
	f, rln := newReloadFixture(t)
	f.write(0, "n1", "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := startServing(t, loadConfig(t, f.file), Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})
	hash := d.ReloadStatus().ConfigHash

	// Server D, added at run time through the replicated table.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := d.Node().Apply(ctx, fsm.AddServerType, &fsmpb.AddServer{Backend: "app", Name: "D", Addr: f.servers["C"], Weight: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		variant int
		id      string
		extra   string
		data    string // another node.data_dir
		want    []string
	}{
		{name: "invalid", id: "n1", extra: "      - {name: E, addr: nowhere}\n", want: []string{f.file + ":", ": backends[0].servers[2].addr: "}},
		{name: "data dir", id: "n1", data: t.TempDir(), want: []string{f.file + ":4: node.data_dir: cannot change while the node runs (was \"" + f.data + "\"); restart the node to apply it"}},
		{name: "admin server", id: "n1", extra: fmt.Sprintf("      - {name: D, addr: %s}\n", f.servers["C"]), want: []string{f.file + ":", ": backends[0].servers[2].name: server D of backend app is defined through the admin API"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.data != "" {
				saved := f.data
				f.data = tc.data
				defer func() { f.data = saved }()
			}
			f.write(tc.variant, tc.id, tc.extra)
			_, _, err := d.ReloadFile(context.Background())
			if err == nil {
				t.Fatal("reload applied")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := d.ReloadStatus(); got.ConfigHash != hash || got.LastOK {
				t.Errorf("after a refused reload: %+v (running hash %s)", got, hash)
			}
			if body := httpGet(t, "http://"+f.web+"/"); !strings.Contains(body, "hello from") {
				t.Errorf("web after a refused reload: %q", body)
			}
		})
	}
	// Admin-added servers survive a reload that changes the backend.
	f.write(1, "n1", "")
	if _, _, err := d.ReloadFile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := d.live().backends["app"].ServerFor(d.FSM().Servers(), "D"); s == nil || !s.Dynamic {
		t.Errorf("server D after the reload: %+v", s)
	}
}

func loadConfig(t *testing.T, file string) *config.Config {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
