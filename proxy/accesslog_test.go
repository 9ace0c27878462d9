package proxy

import (
	"bufio"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/proxy/accesslog"
)

// lineRecorder is an accesslog.Logger keeping every line, formatted.
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *lineRecorder) Log(l *accesslog.Line) {
	b := accesslog.AppendHTTP(nil, l)
	r.mu.Lock()
	r.lines = append(r.lines, string(b))
	r.mu.Unlock()
}

// next waits for the n-th line (from 0).
func (r *lineRecorder) line(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		if len(r.lines) > n {
			l := r.lines[n]
			r.mu.Unlock()
			return l
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no access log line %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timersAndDate masks what depends on the clock: the date and the
// timers, each of which must be a number or -1 where the step was not
// reached.
var timersAndDate = regexp.MustCompile(`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] (\S+ \S+) (-1|\d+)/(-1|\d+)/(-1|\d+)/(-1|\d+)/(\d+) `)

func maskLine(l string) string {
	return timersAndDate.ReplaceAllStringFunc(l, func(m string) string {
		sm := timersAndDate.FindStringSubmatch(m)
		mask := func(s string) string {
			if s == "-1" {
				return "-1"
			}
			return "T"
		}
		return "[DATE] " + sm[1] + " " + mask(sm[2]) + "/" + mask(sm[3]) + "/" + mask(sm[4]) + "/" + mask(sm[5]) + "/" + mask(sm[6]) + " "
	})
}

// TestAccessLogLines checks the lines of a frontend's exchanges, over
// plain TCP and over TLS (the TLS frontend's HTTP/1.1 is the engine's).
func TestAccessLogLines(t *testing.T) {
	for _, tr := range transports {
		overTLS := tr.tls
		t.Run(tr.name, func(t *testing.T) {
			rec := &lineRecorder{}
			a := startBackend(t, named("A"))
			dead := func() string { // a port nothing listens on
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				return addr
			}()
			f := startProxy(t, proxyOpts{cookie: insertCookie(), accessLog: rec, tls: overTLS}, a)
			deadF := startProxy(t, proxyOpts{accessLog: rec, tls: overTLS}, dead)
			hangup := rawBackend(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				c.Close()
			})
			hangF := startProxy(t, proxyOpts{accessLog: rec, tls: overTLS}, hangup)

			n := 0
			check := func(want string) {
				t.Helper()
				if overTLS { // HAProxy's %ft: a TLS frontend's name ends in "~"
					want = strings.Replace(want, " web ", " web~ ", 1)
				}
				got := rec.line(t, n)
				n++
				if m := maskLine(got); m != want {
					t.Errorf("line\n%s\nmasked\n%s\nwant\n%s", got, m, want)
				}
			}
			c := dialLog(t, f)

			// A new client: no cookie, one inserted.
			st, size := c.exchange("GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
			check(c.addr + ` [DATE] web app/A T/T/T/T/T 200 ` + size + ` - - --NI 1/1/0/0/0 0/0 "GET /hello?x=1 HTTP/1.1"`)
			if st != 200 {
				t.Fatalf("status %d", st)
			}

			// The same client with the cookie: valid, nothing inserted.
			_, size = c.exchange("GET / HTTP/1.1\r\nHost: a\r\nCookie: SERVERID=A\r\n\r\n", "GET")
			check(c.addr + ` [DATE] web app/A T/T/T/T/T 200 ` + size + ` - - --VN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`)

			// A malformed request: refused by the proxy before any server.
			st, size = c.exchange("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "GET")
			if st != 400 {
				t.Fatalf("status %d", st)
			}
			check(c.addr + ` [DATE] web web/<NOSRV> -1/-1/-1/-1/T 400 ` + size + ` - - PR-- 1/1/0/0/0 0/0 "<BADREQ>"`)

			// A server that cannot be reached: SC, 503.
			d := dialLog(t, deadF)
			st, size = d.exchange("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST")
			if st != 503 {
				t.Fatalf("status %d", st)
			}
			check(d.addr + ` [DATE] web app/A T/T/-1/-1/T 503 ` + size + ` - - SC-- 1/1/0/0/0 0/0 "POST /x HTTP/1.1"`)

			// A server that hangs up before its response head: SH, 502.
			h := dialLog(t, hangF)
			st, size = h.exchange("POST /y HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST")
			if st != 502 {
				t.Fatalf("status %d", st)
			}
			check(h.addr + ` [DATE] web app/A T/T/T/-1/T 502 ` + size + ` - - SH-- 1/1/0/0/0 0/0 "POST /y HTTP/1.0"`)
		})
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

// logClient is a raw client that knows how many bytes each response took.
type logClient struct {
	*client
	cc   *countingConn
	seen int
	addr string
}

func dialLog(t *testing.T, f *Frontend) *logClient {
	c := dialFrontend(t, f)
	cc := &countingConn{Conn: c.conn}
	c.br = bufio.NewReader(cc)
	return &logClient{client: c, cc: cc, addr: c.conn.LocalAddr().String()}
}

// exchange sends req and returns the response's status and size in bytes.
func (c *logClient) exchange(req, method string) (int, string) {
	c.send(req)
	resp, _ := c.response(method)
	used := c.cc.n - c.br.Buffered()
	size := used - c.seen
	c.seen = used
	return resp.StatusCode, strconv.Itoa(size)
}
