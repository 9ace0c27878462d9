package daemon

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
)

// The profiler is served on the ops listener only with http.debug: a
// goroutine dump and an execution trace of the running node, and nothing
// under /debug/ without it.
func TestDebugProfilerOnlyWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		name  string
		debug bool
	}{{"off", false}, {"on", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f, rln := newReloadFixture(t)
			f.write(0, "n1", "")
			cfg := loadConfig(t, f.file)
			cfg.HTTP.Debug = tc.debug
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			d := startServing(t, cfg, Options{Logger: log, RaftListener: rln, RaftLogLevel: "error"})
			base := "http://" + d.OpsAddr()
			if !tc.debug {
				for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/trace?seconds=1"} {
					resp, err := http.Get(base + p)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("GET %s without http.debug: %s, want 404", p, resp.Status)
					}
				}
				return
			}
			if g := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); !strings.Contains(g, "goroutine profile:") || !strings.Contains(g, "raft") {
				t.Errorf("goroutine dump does not look like this node's:\n%.400s", g)
			}
			resp, err := http.Get(base + "/debug/pprof/trace?seconds=1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "go 1.") {
				t.Errorf("trace: %s, %d bytes, starting %q; want an execution trace", resp.Status, len(b), b[:min(len(b), 16)])
			}
		})
	}
}
