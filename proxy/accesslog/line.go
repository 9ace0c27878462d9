package accesslog

import (
	"net/netip"
	"time"
)

// Kind says which of HAProxy's formats a Line is written in.
type Kind uint8

const (
	// KindHTTP is HAProxy's "option httplog".
	KindHTTP Kind = iota
	// KindTCP is HAProxy's "option tcplog".
	KindTCP
)

// Line is one request (HTTP) or one connection (TCP) as HAProxy logs it.
// A data path fills it (it may keep one per connection and Reset it) and
// hands it to a Logger; the Logger copies what it needs before Log
// returns, so the byte slices may be views of a reused buffer.
//
// Timers are HAProxy's; a negative one means its step was never reached
// and prints -1:
//
//	TR  time to receive the whole request head (from its first byte)
//	Tw  time waiting in a queue for a server slot (maxconn)
//	Tc  time to connect to the server (0 on a reused connection)
//	Tr  server response time: request sent to the response head read
//	Ta  active time: request start to the last byte of the response (HTTP)
//	Tt  whole connection time (TCP)
type Line struct {
	Kind   Kind
	Client netip.AddrPort
	// Start is HAProxy's %tr (HTTP: when the request began) or %t (TCP:
	// when the connection was accepted).
	Start    time.Time
	Frontend string
	// TLS marks a frontend that terminated TLS: HAProxy prints its name
	// with a "~" suffix (%ft).
	TLS     bool
	Backend string
	// Server is "<NOSRV>" when no server was chosen (printed so when empty).
	Server string

	TR, Tw, Tc, Tr, Ta, Tt time.Duration

	// Status is the HTTP status sent to the client; 0 prints -1 (none).
	Status int
	// BytesRead are the bytes sent to the client (%B): HAProxy counts
	// what it read from the server, head included.
	BytesRead int64
	// BytesUploaded are the bytes read from the client (%U), for JSON.
	BytesUploaded int64

	// Term is the termination state (%tsc): see Term* and Cookie*.
	Term Term

	// Connection counts when the line was logged (%ac/%fc/%bc/%sc/%rc):
	// all the process's connections, the frontend's, the backend's, the
	// server's, and the retries (a "+" prefix when redispatched).
	ActConn, FeConn, BeConn, SrvConn, Retries int
	Redispatched                              bool
	// SrvQueue and BackendQueue are the requests queued before this one
	// (%sq/%bq).
	SrvQueue, BackendQueue int

	// Method, URI and Proto make the request line (%r); all empty prints
	// "<BADREQ>".
	Method, URI, Proto []byte
}

// Reset clears l for the next request, keeping nothing.
func (l *Line) Reset() { *l = Line{} }

// Term is HAProxy's termination state, four characters: who or what ended
// the session, the session's state then, the persistence cookie the
// client sent, and what was done with the server's cookie. The zero Term
// prints "----".
type Term [4]byte

// First character: the first event that ended the session.
const (
	EndNormal        byte = '-' // normal end
	EndClientAbort   byte = 'C' // the client aborted or closed
	EndServerAbort   byte = 'S' // the server aborted, refused or answered badly
	EndProxy         byte = 'P' // the proxy refused or aborted (a security check, malformed input)
	EndLocal         byte = 'L' // the proxy answered itself (no server involved)
	EndResource      byte = 'R' // a local resource ran out (memory, sockets, ports)
	EndInternal      byte = 'I' // an internal error
	EndDown          byte = 'D' // the server went down and was killed
	EndKilled        byte = 'K' // the session was killed by an administrator
	EndClientTimeout byte = 'c' // timeout client or http-request expired
	EndServerTimeout byte = 's' // timeout server or connect expired
)

// Second character: the session's state when it ended.
const (
	StateNone     byte = '-' // normal end of the session
	StateRequest  byte = 'R' // waiting for a complete request from the client
	StateQueue    byte = 'Q' // waiting in a queue for a server slot
	StateConnect  byte = 'C' // waiting for the connection to the server
	StateHeaders  byte = 'H' // waiting for (or sending) the response head
	StateData     byte = 'D' // transferring data
	StateLast     byte = 'L' // transferring the last data, closing
	StateTarpit   byte = 'T' // tarpitted
	StateIdleWait byte = 'I' // idle between requests (HAProxy 2.x "I")
)

// Third character: the persistence cookie the client sent.
const (
	CookieNA      byte = '-' // no persistence cookie configured
	CookieNone    byte = 'N' // the client sent none
	CookieInvalid byte = 'I' // it named no known server
	CookieDown    byte = 'D' // it named a server that was down: redispatched
	CookieValid   byte = 'V' // it named a server, and that server was used
	CookieExpired byte = 'E' // it was older than maxidle
	CookieOld     byte = 'O' // it was older than maxlife
	CookieUnused  byte = 'U' // present but another rule chose the server
)

// Fourth character: what was done with the server's cookie.
const (
	SetCookieNA        byte = '-' // does not apply
	SetCookieNone      byte = 'N' // none from the server, none inserted
	SetCookieInserted  byte = 'I' // the proxy inserted one
	SetCookieUpdated   byte = 'U' // the proxy updated its date
	SetCookieProvided  byte = 'P' // the server's, transmitted as is
	SetCookieRewritten byte = 'R' // the server's, rewritten by the proxy
	SetCookieDeleted   byte = 'D' // the server's, deleted by the proxy
)

// MakeTerm builds a Term from its four characters.
func MakeTerm(end, state, cookie, setCookie byte) Term {
	return Term{end, state, cookie, setCookie}
}

// String returns the four characters, a zero byte printed as '-'.
func (t Term) String() string {
	b := t.append(nil)
	return string(b)
}

func (t Term) append(dst []byte) []byte {
	for _, c := range t {
		if c == 0 {
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendSession appends only the first two characters (tcplog's %ts).
func (t Term) appendSession(dst []byte) []byte {
	for _, c := range t[:2] {
		if c == 0 {
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}
