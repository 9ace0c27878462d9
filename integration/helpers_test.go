package integration

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
)

func startDev(t *testing.T, cookie config.Cookie, learnCommit string) *daemon.DevCluster {
	t.Helper()
	return startDevWith(t, daemon.DevOptions{Cookie: cookie, LearnCommit: learnCommit})
}

func startDevWith(t *testing.T, o daemon.DevOptions) *daemon.DevCluster {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("HARAFT_TEST_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	// These tests are about stickiness and failover, so the cluster port
	// runs without TLS: with 50 ms Raft timeouts and -race on two cores,
	// TLS handshakes for every new connection delay elections by seconds.
	// mTLS itself is tested in cmd/haraftd/daemon and cmd/haraftd/admin.
	o.DataDir, o.FastRaft, o.Plain = t.TempDir(), true, true
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	o.RaftLogLevel = raftLogLevel()
	return daemontest.StartDev(t, o)
}

func learnMode() config.Cookie { return config.Cookie{Name: "JSESSIONID", Mode: config.CookieLearn} }

// result is what one request through a proxy saw.
type result struct {
	status    int
	backend   string
	session   string // X-Session: the JSESSIONID the application received
	setCookie []string
	body      string
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func get(t *testing.T, url string, cookies ...string) result {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies {
		req.Header.Add("Cookie", c)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), session: resp.Header.Get("X-Session"),
		setCookie: resp.Header.Values("Set-Cookie"), body: string(b)}
}

func proxyURL(c *daemon.DevCluster, i int) string {
	return "http://" + c.Nodes[i].Frontends()[0].Addr().String() + "/"
}

// cookieValue extracts NAME's value from Set-Cookie lines.
func cookieValue(t *testing.T, lines []string, name string) string {
	t.Helper()
	for _, l := range lines {
		c, err := http.ParseSetCookie(l)
		if err == nil && c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no %s in Set-Cookie %q", name, lines)
	return ""
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitBound waits until every running node's FSM binds key to server.
func waitBound(t *testing.T, c *daemon.DevCluster, key, server string) {
	t.Helper()
	for _, d := range c.Nodes {
		if d == nil {
			continue
		}
		waitFor(t, "binding of "+key+" on "+d.Node().ID(), 5*time.Second, func() bool {
			s, ok := d.FSM().Lookup("app", key)
			return ok && s == server
		})
	}
}

func leaderIndex(t *testing.T, c *daemon.DevCluster) int {
	t.Helper()
	idx := -1
	waitFor(t, "a leader", 5*time.Second, func() bool {
		for i, d := range c.Nodes {
			if d != nil && d.Node().IsLeader() {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

func raftLogLevel() string {
	if os.Getenv("HARAFT_TEST_VERBOSE") != "" {
		return "info"
	}
	return "off"
}
