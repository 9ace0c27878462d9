package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/internal/freeport"
)

// Differential tests: the same requests through HAProxy 2.6 and through
// haraft, configured alike, must be routed alike and carry the same cookie
// headers (to the client and to the server).

// freeAddr is a loopback host:port to bind by number (freeport: outside
// the ephemeral range, so no outgoing connection takes it meanwhile).
func freeAddr(t *testing.T) string { return freeport.Addr(t) }

// startHAProxy runs haproxy in the foreground with cookieLine and the dev
// cluster's two demo backends.
func startHAProxy(t *testing.T, c *daemon.DevCluster, cookieLine string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed (apt-get install haproxy): differential test skipped")
	}
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`global
    maxconn 1000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen web
    bind %s
    balance roundrobin
    %s
    server A %s cookie A
    server B %s cookie B
`, addr, cookieLine, c.Backends[0].Addr(), c.Backends[1].Addr())
	runHAProxy(t, bin, addr, cfg)
	return addr
}

// runHAProxy runs bin in the foreground with the configuration cfg until
// the test ends, and waits until it listens on addr (cfg's bind).
func runHAProxy(t *testing.T, bin, addr, cfg string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	waitFor(t, "haproxy listening", 5*time.Second, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// exchange is what matters of one request/response for the comparison.
type exchange struct {
	status       int
	backend      string
	appSaw       string   // JSESSIONID the application received (X-Session)
	setCookies   []string // normalised Set-Cookie lines
	cacheControl string
}

func rawGet(t *testing.T, addr string, cookies ...string) exchange {
	t.Helper()
	return rawGetPath(t, addr, "/", cookies...)
}

func rawGetPath(t *testing.T, addr, path string, cookies ...string) exchange {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n")
	for _, c := range cookies {
		b.WriteString("Cookie: " + c + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	var sc []string
	for _, l := range resp.Header.Values("Set-Cookie") {
		sc = append(sc, normaliseSetCookie(l))
	}
	sort.Strings(sc)
	return exchange{resp.StatusCode, resp.Header.Get("X-Backend"), resp.Header.Get("X-Session"), sc, strings.Join(resp.Header.Values("Cache-Control"), ", ")}
}

// normaliseSetCookie lower-cases attribute names and masks the random
// application session id, so HAProxy's and haraft's lines compare.
func normaliseSetCookie(l string) string {
	parts := strings.Split(l, ";")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if i == 0 {
			name, val, _ := strings.Cut(p, "=")
			if name == "JSESSIONID" {
				if srv, _, ok := strings.Cut(val, "~"); ok {
					val = srv + "~<sid>"
				} else if len(val) == 16 {
					val = "<sid>"
				}
			}
			parts[i] = name + "=" + val
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if ok {
			parts[i] = strings.ToLower(k) + "=" + v
		} else {
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "; ")
}

// sid is the application session the follow-up requests carry; the demo
// application echoes what it receives, so the two proxies' rewriting of it
// is compared.
const sid = "0123456789abcdef"

func TestDifferentialAgainstHAProxy(t *testing.T) {
	tests := []struct {
		name       string
		haproxy    string
		cookie     config.Cookie
		clientCk   func(first exchange, sid string) []string // cookies of the follow-up request
		sidFromApp bool
	}{
		{
			name:    "insert indirect nocache",
			haproxy: "cookie SERVERID insert indirect nocache",
			cookie:  config.Cookie{Name: "SERVERID", Mode: config.CookieInsert, Indirect: true, NoCache: true},
			clientCk: func(first exchange, sid string) []string {
				return []string{"SERVERID=" + first.backend, "JSESSIONID=" + sid}
			},
		},
		{
			name:    "insert httponly secure",
			haproxy: "cookie SERVERID insert indirect httponly secure",
			cookie:  config.Cookie{Name: "SERVERID", Mode: config.CookieInsert, Indirect: true, HTTPOnly: true, Secure: true},
			clientCk: func(first exchange, sid string) []string {
				return []string{"SERVERID=" + first.backend + "; JSESSIONID=" + sid}
			},
		},
		{
			name:    "prefix",
			haproxy: "cookie JSESSIONID prefix",
			cookie:  config.Cookie{Name: "JSESSIONID", Mode: config.CookiePrefix},
			clientCk: func(first exchange, sid string) []string {
				return []string{"JSESSIONID=" + first.backend + "~" + sid}
			},
		},
		{
			name:    "rewrite",
			haproxy: "cookie JSESSIONID rewrite",
			cookie:  config.Cookie{Name: "JSESSIONID", Mode: config.CookieRewrite},
			clientCk: func(first exchange, sid string) []string {
				return []string{"JSESSIONID=" + first.backend}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startDev(t, tc.cookie, "")
			peers := map[string]string{
				"haproxy": startHAProxy(t, c, tc.haproxy),
				"haraft":  c.Nodes[0].Frontends()[0].Addr().String(),
			}
			got := map[string][]exchange{}
			for name, addr := range peers {
				first := rawGet(t, addr)
				seq := []exchange{first}
				for i := 0; i < 3; i++ {
					seq = append(seq, rawGet(t, addr, tc.clientCk(first, sid)...))
				}
				// A cacheable response (nocache adds Cache-Control: private).
				seq = append(seq, rawGetPath(t, addr, "/?cache-control=max-age%3D60"))
				seq = append(seq, rawGetPath(t, addr, "/?cache-control=no-store"))
				// An unknown server cookie is treated as no cookie by both.
				seq = append(seq, rawGet(t, addr, strings.Replace(tc.clientCk(first, sid)[0], first.backend, "Z", 1)))
				got[name] = seq
			}
			h, r := got["haproxy"], got["haraft"]
			for i := range h {
				hs, rs := h[i], r[i]
				if i == 0 || i >= len(h)-3 {
					// New sessions may be balanced to different servers by
					// the two; compare shapes, with the server masked.
					hs, rs = maskServer(hs), maskServer(rs)
				}
				if fmt.Sprint(hs) != fmt.Sprint(rs) {
					t.Errorf("request %d differs:\n haproxy %+v\n haraft  %+v", i, h[i], r[i])
				}
			}
			t.Logf("haproxy: %+v", h)
			t.Logf("haraft:  %+v", r)
		})
	}
}

func maskServer(e exchange) exchange {
	out := e
	out.backend = "<srv>"
	out.setCookies = nil
	for _, l := range e.setCookies {
		for _, s := range []string{"=A", "=B"} {
			l = strings.Replace(l, s+";", "=<srv>;", 1)
			l = strings.Replace(l, s+"~", "=<srv>~", 1)
			if strings.HasSuffix(l, s) {
				l = strings.TrimSuffix(l, s) + "=<srv>"
			}
		}
		out.setCookies = append(out.setCookies, l)
	}
	return out
}
