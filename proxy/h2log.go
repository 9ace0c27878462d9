package proxy

import (
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/haraft/haraft/proxy/accesslog"
)

// The access log of an HTTP/2 request (TLS frontend, ServeHTTP): one
// line per request, in the formats and with the fields of the HTTP/1.1
// engine's lines (accesslog.go), measured from the http.Handler side:
//
//   - TR is 0: the HTTP/2 server has decoded the whole request head
//     before the handler runs, and Start is that moment.
//   - Tw is the wait for a slot of a server at its maxconn, Tc the time
//     from sending the request to having a connection (0 when a pooled
//     one was reused), Tr from there to the response head, Ta the whole
//     request up to its last byte sent to the client.
//   - %B (BytesRead) counts the response head as its HTTP/1.1 form would
//     take (status line, fields, blank line) plus the body bytes sent, so
//     that the figure compares with the lines of HTTP/1.1 requests;
//     BytesUploaded counts the request body bytes sent to the server.
//   - The request line is `"GET /path HTTP/2.0"`, as HAProxy writes it.
//   - Requests the HTTP/2 server refuses before a handler runs (a
//     malformed header block, a stream reset by the client before its
//     head was complete) reach no handler and have no line.

// h2Log is the access log state of one HTTP/2 request; allocated only
// when the frontend logs.
type h2Log struct {
	line  accesslog.Line
	w     h2LogWriter
	trace httptrace.ClientTrace
	// sent: the request started toward a server (RoundTrip); conn: it
	// has a connection; head: the response head arrived. Zero: not yet.
	sent, conn, head time.Time
	tw               time.Duration
	reused           bool
	end, state       byte // termination state's first two characters; 0: normal end
	setCookie        byte
	srvQueue         int
	redispatched     bool
	body             *untouchedBody // the request body as sent, for BytesUploaded
	done             bool           // the handler returned normally
}

// h2LogWriter counts what is written to the client: the status, the head
// as HTTP/1.1 would frame it, the body bytes.
type h2LogWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *h2LogWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.bytes += headSize(code, w.ResponseWriter.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *h2LogWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends what is buffered (ReverseProxy streams responses).
func (w *h2LogWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the HTTP/2 server's writer.
func (w *h2LogWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headSize is the length of a response head in HTTP/1.1 framing:
// "HTTP/1.1 200 OK\r\n", "Name: value\r\n" per field, "\r\n".
func headSize(code int, h http.Header) int64 {
	var buf [3]byte
	n := len("HTTP/1.1 ") + len(strconv.AppendInt(buf[:0], int64(code), 10)) + 1 + len(http.StatusText(code)) + 2
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n + 2)
}

// startLog prepares the log of a request: w is wrapped to count what is
// sent, and ctx (the request's, to be) gets a trace for the connection.
func (x *tlsExchange) startLog(w http.ResponseWriter) http.ResponseWriter {
	lg := &h2Log{}
	lg.w.ResponseWriter = w
	lg.trace.GotConn = x.gotConn
	x.log = lg
	return &lg.w
}

// gotConn records when the request had its server connection.
func (x *tlsExchange) gotConn(info httptrace.GotConnInfo) {
	x.log.conn, x.log.reused = time.Now(), info.Reused
}

// logEnd records why a request ended, unless an earlier cause was.
func (x *tlsExchange) logEnd(end, state byte) {
	if x.log != nil && x.log.end == 0 {
		x.log.end, x.log.state = end, state
	}
}

// logExchange writes the access log line of an HTTP/2 request, once its
// server slot was given back (the counts are HAProxy 2.6's: see
// session.LogExchange). It runs deferred, also when the handler panics
// (ReverseProxy aborts a response whose body copy failed).
func (f *TLSFrontend) logExchange(x *tlsExchange, req *http.Request) {
	lg := x.log
	l := &lg.line
	client, _ := netip.ParseAddrPort(req.RemoteAddr)
	*l = accesslog.Line{
		Kind: accesslog.KindHTTP, Client: client, Start: x.start, Frontend: f.name, TLS: true,
		Backend: f.backend.Name, Tw: -1, Tc: -1, Tr: -1, Ta: time.Since(x.start),
		Status: lg.w.status, BytesRead: lg.w.bytes, Redispatched: lg.redispatched,
		Method: sbytes(req.Method), URI: sbytes(req.RequestURI), Proto: sbytes(req.Proto),
	}
	if lg.body != nil {
		l.BytesUploaded = lg.body.n.Load()
	}
	srv := x.rt.server
	if srv != nil {
		l.Server = srv.Name
		l.Tw = lg.tw
	}
	if !lg.conn.IsZero() {
		l.Tc = 0
		if !lg.reused {
			l.Tc = lg.conn.Sub(lg.sent)
		}
		if !lg.head.IsZero() {
			l.Tr = lg.head.Sub(lg.conn)
		}
	}
	if lg.redispatched {
		l.Retries = 1
	}
	end, state := lg.end, lg.state
	if end == 0 && !lg.done {
		// The response was cut while its body was being sent.
		end, state = accesslog.EndServerAbort, accesslog.StateData
		if req.Context().Err() != nil {
			end = accesslog.EndClientAbort
		}
	}
	if end == 0 {
		end, state = accesslog.EndNormal, accesslog.StateNone
	}
	if state == accesslog.StateRequest && srv == nil {
		l.Backend = f.name // refused before a backend was chosen: web/<NOSRV>
	}
	cookie, setCookie := accesslog.CookieNA, accesslog.SetCookieNA
	if f.backend.Cookie != nil {
		setCookie = lg.setCookie
		switch {
		case srv == nil:
			cookie = 0
		case x.rt.viaCookie:
			cookie = accesslog.CookieValid
		case x.rt.reassigned:
			cookie = accesslog.CookieDown
		default:
			cookie = accesslog.CookieNone
		}
	}
	l.Term = accesslog.MakeTerm(end, state, cookie, setCookie)
	l.FeConn = int(f.ln.own.cur.Load())
	l.ActConn = l.FeConn
	if g := f.ln.global; g != nil {
		l.ActConn = int(g.cur.Load())
	}
	if srv != nil {
		for _, s := range f.backend.Servers {
			l.BeConn += int(s.active.Load())
		}
		l.SrvConn = int(srv.active.Load())
	}
	l.SrvQueue = lg.srvQueue
	f.accessLog.Log(l)
}

// sbytes views s as bytes without copying; the bytes must not be
// modified (the access log copies them before Log returns).
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
