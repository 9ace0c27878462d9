package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
)

// TestLogReopen rotates node 1's access log file as logrotate does
// (rename, then `haraftctl log reopen`): the next requests go to a new file
// at the configured path, not to the renamed one. A read token is refused
// and reopens nothing, and only the node called reopens its log.
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	c := daemontest.StartDev(t, daemon.DevOptions{AccessLogDir: dir})
	e := env(c, 0)
	path := filepath.Join(dir, "n1.log")
	get := func(uri string) {
		t.Helper()
		resp, err := http.Get("http://" + c.Nodes[0].Frontends()[0].Addr().String() + uri)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitFor := func(p, s string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks %q:\n%s", p, s, b)
			}
		}
	}
	get("/before-rotate")
	waitFor(path, "GET /before-rotate ")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}

	// A read token may not reopen.
	if r := ctl(with(e, "HARAFT_TOKEN", c.Security.ReadToken), "log", "reopen"); r.code != exitAuth || !strings.Contains(r.stderr, "read-only") {
		t.Fatalf("read token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	get("/not-reopened")
	waitFor(path+".1", "GET /not-reopened ") // still written to the renamed file
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists before any reopen: %v", path, err)
	}

	r := ctl(e, "log", "reopen")
	if r.code != 0 || !strings.Contains(r.stdout, "n1: access log file:"+path+" reopened (1 reopens since start)") {
		t.Fatalf("log reopen: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	get("/after-rotate")
	waitFor(path, "GET /after-rotate ")
	if b, _ := os.ReadFile(path + ".1"); strings.Contains(string(b), "after-rotate") {
		t.Fatalf("the renamed file still gets lines:\n%s", b)
	}
	for i, d := range c.Nodes {
		st, ok := d.AccessLogStats()
		if want := uint64(0); i == 0 {
			want = 1
			if !ok || st.Reopens != want {
				t.Fatalf("n%d: %d reopens, want %d", i+1, st.Reopens, want)
			}
		} else if !ok || st.Reopens != want {
			t.Fatalf("n%d: %d reopens, want %d (only the node called reopens)", i+1, st.Reopens, want)
		}
	}

	// -o json: the count is a number.
	r = ctl(e, "log", "reopen", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"reopens": 2`) || !strings.Contains(r.stdout, `"node_id": "n1"`) {
		t.Fatalf("log reopen -o json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
