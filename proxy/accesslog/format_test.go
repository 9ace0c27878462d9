package accesslog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func sampleLine() Line {
	return Line{
		Client:   netip.MustParseAddrPort("10.0.1.2:33317"),
		Start:    time.Date(2009, time.February, 6, 12, 14, 14, 655e6, time.UTC),
		Frontend: "http-in", Backend: "static", Server: "srv1",
		TR: 10 * time.Millisecond, Tw: 0, Tc: 30 * time.Millisecond, Tr: 69 * time.Millisecond, Ta: 109 * time.Millisecond,
		Status: 200, BytesRead: 2750,
		ActConn: 1, FeConn: 1, BeConn: 1, SrvConn: 1,
		Method: []byte("GET"), URI: []byte("/index.html"), Proto: []byte("HTTP/1.1"),
	}
}

func TestAppendHTTP(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Line)
		want string
	}{
		{"haproxy manual example", func(*Line) {},
			`10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"tls frontend and ipv6 client", func(l *Line) {
			l.TLS = true
			l.Client = netip.MustParseAddrPort("[2001:db8::1]:443")
		}, `2001:db8::1:443 [06/Feb/2009:12:14:14.655] http-in~ static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"ipv4-mapped client printed as ipv4", func(l *Line) {
			l.Client = netip.MustParseAddrPort("[::ffff:127.0.0.1]:5000")
		}, `127.0.0.1:5000 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"PR refused by the proxy, bad request", func(l *Line) {
			l.Server, l.Tw, l.Tc, l.Tr = "", -1, -1, -1
			l.Status, l.BytesRead = 400, 187
			l.Term = MakeTerm(EndProxy, StateRequest, CookieNA, SetCookieNA)
			l.Method, l.URI, l.Proto = nil, nil, nil
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> 10/-1/-1/-1/109 400 187 - - PR-- 1/1/1/1/0 0/0 "<BADREQ>"`},
		{"cR client timeout waiting for a request", func(l *Line) {
			l.Server, l.TR, l.Tw, l.Tc, l.Tr = "", -1, -1, -1, -1
			l.Status, l.BytesRead = 408, 0
			l.Term = MakeTerm(EndClientTimeout, StateRequest, 0, 0)
			l.Method, l.URI, l.Proto = nil, nil, nil
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> -1/-1/-1/-1/109 408 0 - - cR-- 1/1/1/1/0 0/0 "<BADREQ>"`},
		{"CD client aborted during data", func(l *Line) {
			l.Term = MakeTerm(EndClientAbort, StateData, CookieValid, SetCookieNA)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - CDV- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"cD client timeout during data", func(l *Line) {
			l.Term = MakeTerm(EndClientTimeout, StateData, CookieNone, SetCookieInserted)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - cDNI 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"SC server refused the connection, redispatched", func(l *Line) {
			l.Tr, l.Status, l.Retries, l.Redispatched = -1, 503, 1, true
			l.Term = MakeTerm(EndServerAbort, StateConnect, CookieDown, SetCookieNA)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/-1/109 503 2750 - - SCD- 1/1/1/1/+1 0/0 "GET /index.html HTTP/1.1"`},
		{"SH server closed before its head", func(l *Line) {
			l.Tr, l.Status = -1, 502
			l.Term = MakeTerm(EndServerAbort, StateHeaders, CookieInvalid, SetCookieNA)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/-1/109 502 2750 - - SHI- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"sH server timeout", func(l *Line) {
			l.Tr, l.Status = -1, 504
			l.Term = MakeTerm(EndServerTimeout, StateHeaders, CookieExpired, SetCookieNA)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/-1/109 504 2750 - - sHE- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"sD server timeout during data", func(l *Line) {
			l.Term = MakeTerm(EndServerTimeout, StateData, CookieOld, SetCookieRewritten)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - sDOR 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"SD server aborted during data", func(l *Line) {
			l.Term = MakeTerm(EndServerAbort, StateData, CookieUnused, SetCookieProvided)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - SDUP 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"sQ queue timeout", func(l *Line) {
			l.Server, l.Tc, l.Tr, l.Status = "", -1, -1, 503
			l.Tw, l.SrvQueue, l.BackendQueue = 2*time.Second, 3, 4
			l.Term = MakeTerm(EndServerTimeout, StateQueue, CookieNone, SetCookieUpdated)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> 10/2000/-1/-1/109 503 2750 - - sQNU 1/1/1/1/0 3/4 "GET /index.html HTTP/1.1"`},
		{"SC no server: 503 from the proxy", func(l *Line) {
			l.Server, l.Tw, l.Tc, l.Tr, l.Status = "", -1, -1, -1, 503
			l.Term = MakeTerm(EndServerAbort, StateConnect, CookieNone, SetCookieNone)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> 10/-1/-1/-1/109 503 2750 - - SCNN 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"deleted set-cookie, upgraded connection", func(l *Line) {
			l.Status = 101
			l.Term = MakeTerm(EndNormal, StateNone, CookieValid, SetCookieDeleted)
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 101 2750 - - --VD 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"resource, internal, down, killed, local, tarpit, idle", func(l *Line) {
			l.Term = MakeTerm(EndResource, StateTarpit, 0, 0)
			l.Status = 0
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 -1 2750 - - RT-- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"request line escaped as haproxy does", func(l *Line) {
			l.URI = []byte("/a\"b#c\x01\xff{|}")
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /a#22b#23c#01#FF{|} HTTP/1.1"`},
		{"names with field separators escaped, empty names", func(l *Line) {
			l.Frontend, l.Backend, l.Server = "a b", "", "x/y"
		}, `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] a#20b -/x#2Fy 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
		{"no client address", func(l *Line) { l.Client = netip.AddrPort{} },
			`-:- [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := sampleLine()
			tt.edit(&l)
			if got := string(AppendHTTP(nil, &l)); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if got := string(FormatHAProxy.Append(nil, &l)); got != tt.want {
				t.Errorf("Format.Append differs: %s", got)
			}
		})
	}
}

func TestTermChars(t *testing.T) {
	// Every character this package names is one of HAProxy's (8.5).
	for _, c := range []byte{EndNormal, EndClientAbort, EndServerAbort, EndProxy, EndLocal, EndResource,
		EndInternal, EndDown, EndKilled, EndClientTimeout, EndServerTimeout} {
		if !strings.ContainsRune("-CSPLRIDKcs", rune(c)) {
			t.Errorf("first char %q", c)
		}
	}
	for _, c := range []byte{StateNone, StateRequest, StateQueue, StateConnect, StateHeaders, StateData, StateLast, StateTarpit, StateIdleWait} {
		if !strings.ContainsRune("-RQCHDLTI", rune(c)) {
			t.Errorf("second char %q", c)
		}
	}
	if got := (Term{}).String(); got != "----" {
		t.Errorf("zero Term = %q", got)
	}
	if got := MakeTerm(EndProxy, StateRequest, CookieNone, SetCookieInserted).String(); got != "PRNI" {
		t.Errorf("PRNI = %q", got)
	}
}

func TestAppendTCP(t *testing.T) {
	l := sampleLine()
	l.Kind = KindTCP
	l.Tw, l.Tc, l.Tt = 0, 3*time.Millisecond, 5030*time.Millisecond
	l.BytesRead = 212
	l.Term = MakeTerm(EndClientAbort, StateData, 0, 0)
	want := `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 0/3/5030 212 CD 1/1/1/1/0 0/0`
	if got := string(FormatHAProxy.Append(nil, &l)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAppendJSON(t *testing.T) {
	l := sampleLine()
	l.URI = []byte("/q?\"x\\\x01")
	l.Frontend = "fe\"1"
	l.Term = MakeTerm(EndClientAbort, StateData, CookieValid, SetCookieNA)
	b := FormatJSON.Append(nil, &l)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	want := map[string]any{
		"client_ip": "10.0.1.2", "client_port": 33317.0, "date": "2009-02-06T12:14:14.655Z",
		"frontend": "fe\"1", "tls": false, "backend": "static", "server": "srv1", "mode": "http",
		"TR": 10.0, "Tw": 0.0, "Tc": 30.0, "Tr": 69.0, "Ta": 109.0, "status": 200.0,
		"bytes_read": 2750.0, "bytes_uploaded": 0.0, "termination_state": "CDV-",
		"actconn": 1.0, "feconn": 1.0, "beconn": 1.0, "srv_conn": 1.0, "retries": 0.0,
		"srv_queue": 0.0, "backend_queue": 0.0, "request": "GET /q?\"x\\\x01 HTTP/1.1",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("keys %d, want %d: %s", len(m), len(want), b)
	}
	l.Kind = KindTCP
	l.Tt = time.Second
	m = nil
	if err := json.Unmarshal(FormatJSON.Append(nil, &l), &m); err != nil {
		t.Fatal(err)
	}
	if m["mode"] != "tcp" || m["Tt"] != 1000.0 || m["termination_state"] != "CD" || m["request"] != nil {
		t.Errorf("tcp JSON: %v", m)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"", "haproxy", "httplog", "tcplog"} {
		if f, err := ParseFormat(s); err != nil || f != FormatHAProxy {
			t.Errorf("%q: %v %v", s, f, err)
		}
	}
	if f, err := ParseFormat("json"); err != nil || f != FormatJSON || f.String() != "json" {
		t.Errorf("json: %v %v", f, err)
	}
	if _, err := ParseFormat("clf"); err == nil {
		t.Error("clf accepted")
	}
}

func BenchmarkAppendHTTP(b *testing.B) {
	l := sampleLine()
	l.Start = time.Now()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHTTP(buf[:0], &l)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	l := sampleLine()
	l.Start = time.Now()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &l)
	}
}

// FuzzAppend checks that any request line and names keep both formats
// well formed: one line, the httplog fields where they belong, valid JSON.
func FuzzAppend(f *testing.F) {
	f.Add("GET", "/a\"b#\x00\n", "HTTP/1.1", "fe", "be", "s1")
	f.Add("", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, method, uri, proto, fe, be, srv string) {
		l := sampleLine()
		l.Method, l.URI, l.Proto = []byte(method), []byte(uri), []byte(proto)
		l.Frontend, l.Backend, l.Server = fe, be, srv
		h := AppendHTTP(nil, &l)
		if bytes.ContainsAny(h, "\r\n") {
			t.Fatalf("line break in %q", h)
		}
		if n := strings.Count(string(h), `"`); n != 2 {
			t.Fatalf("%d quotes in %q", n, h)
		}
		if got := len(strings.Fields(string(h[:bytes.IndexByte(h, '"')]))); got != 12 {
			t.Fatalf("%d fields before the request line in %q", got, h)
		}
		if j := AppendJSON(nil, &l); !json.Valid(j) || bytes.ContainsAny(j, "\n") {
			t.Fatalf("bad JSON %q", j)
		}
	})
}
