package proxy

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haraft/haraft/proxy/accesslog"
	"github.com/haraft/haraft/proxy/h1"
	"github.com/haraft/haraft/proxy/internal/h1test"
)

// The hot path of one proxied request, piece by piece and end to end.
// Run: go test -run '^$' -bench . -benchmem ./proxy/

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Set-Cookie: JSESSIONID=0123456789abcdef; Path=/\r\n" +
	"X-Server: A\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 GMT\r\n" +
	"Content-Length: 13\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"hello from A\n"

// benchSession returns a client connection's policy (not connected) and
// the Cookie values of h1's benchmark request, as the engine hands them.
func benchSession(b *testing.B, cookie *CookieOptions, st State) (*session, *h1.Request) {
	be, err := NewBackend(BackendOptions{Name: "app", Cookie: cookie, ForwardFor: true,
		Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Weight: 1}, {Name: "B", Addr: "127.0.0.1:2", Weight: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	f := &Frontend{backend: be, state: st}
	return &session{f: f, clientIP: "127.0.0.1"}, &h1.Request{Cookies: []string{"SERVERID=A; JSESSIONID=0123456789abcdef; theme=dark"}}
}

func BenchmarkRoute(b *testing.B) {
	for _, tc := range []struct {
		name   string
		cookie *CookieOptions
	}{
		{"insert", insertCookie()},
		{"learn", &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn}},
		{"prefix", &CookieOptions{Name: "JSESSIONID", Mode: ModePrefix}},
		{"none", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := &stubState{sessions: map[string]string{"0123456789abcdef": "B"}}
			s, req := benchSession(b, tc.cookie, st)
			b.ReportAllocs()
			for b.Loop() {
				rt, err := s.f.backend.route(st, nil, req.Cookies, s.clientIP)
				if err != nil || rt.server == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRewrite runs the policy's part of the heads: the indirect
// cookie removed from the Cookie line sent to the server, X-Forwarded-For
// added, and the Set-Cookie lines of the response through the cookie mode
// (the engine's part is h1's BenchmarkHeads).
func BenchmarkRewrite(b *testing.B) {
	st := &stubState{}
	s, req := benchSession(b, insertCookie(), st)
	rt, err := s.f.backend.route(st, nil, req.Cookies, s.clientIP)
	if err != nil {
		b.Fatal(err)
	}
	s.rt = rt
	out := make([]byte, 0, 1024)
	name, value := []byte("Cookie"), []byte(req.Cookies[0])
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ = s.RequestField(out[:0], h1.FieldCookie, name, value)
			out = s.AppendFields(out, req)
		}
		if !bytes.Contains(out, []byte("Cookie: JSESSIONID=0123456789abcdef; theme=dark\r\n")) {
			b.Fatalf("cookie not rewritten:\n%s", out)
		}
	})
	setCookies := []string{"JSESSIONID=0123456789abcdef; Path=/"}
	b.Run("response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _, _ = s.f.backend.response(&s.rt, setCookies, nil)
		}
	})
}

// BenchmarkForward sends requests one after another over one keep-alive
// connection through a frontend to a minimal server; allocs/op counts the
// whole process (client and server allocate nothing).
//
// The log=file variants keep the access log on, written to a file by its
// writer goroutine: the cost of logging on the request path.
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct{ mode, log string }{{"insert", "off"}, {"learn", "off"}, {"insert", "file"}, {"learn", "file"}} {
		mode := bc.mode
		name := mode
		if bc.log != "off" {
			name += "/log=" + bc.log
		}
		b.Run(name, func(b *testing.B) {
			// As the anchor backend: Set-Cookie only for a request
			// without a session (insert mode: the cookie is indirect).
			resp := benchResponse
			if mode == "learn" {
				resp = strings.Replace(resp, "Set-Cookie: JSESSIONID=0123456789abcdef; Path=/\r\n", "", 1)
			}
			srv := rawBackend(b, func(c net.Conn) { h1test.FixedServer(c, resp) })
			o := proxyOpts{cookie: insertCookie()}
			cookie := "SERVERID=A"
			if mode == "learn" {
				o.cookie = &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn}
				o.state = &stubState{sessions: map[string]string{"0123456789abcdef": "A"}}
				cookie = "JSESSIONID=0123456789abcdef"
			}
			if bc.log == "file" {
				w, err := accesslog.NewWriter(accesslog.Options{Target: accesslog.Target{Kind: accesslog.TargetFile, Path: filepath.Join(b.TempDir(), "access.log")}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					_ = w.Close()
					if st := w.Stats(); st.Dropped > 0 {
						b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
					}
				})
				o.accessLog = w
			}
			f := startProxy(b, o, srv, srv)
			h1test.BenchRoundTrips(b, f.Addr().String(), []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nCookie: "+cookie+"\r\n\r\n"))
		})
	}
}
