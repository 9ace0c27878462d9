package h1

import (
	"net/netip"
	"time"
)

// Policy decides where requests go; the engine only frames them. Open is
// called once per client connection.
type Policy interface {
	Open(clientIP string) Session
}

// Session is the policy of one client connection. The engine calls it
// from that connection's goroutine, one request at a time: Route, then
// (when Route succeeded) RequestField and AppendFields while it builds the
// head sent upstream, Redispatch when the upstream cannot be reached,
// Response on the final response head, and Done once the exchange ends.
// Close is called once the connection ended.
type Session interface {
	// Route chooses the upstream for a well-framed request and takes
	// whatever slot the policy holds for it until Done. An error refuses
	// the request with 503, its text as the reason.
	Route(req *Request) (*Pool, error)
	// Redispatch picks another upstream after cause made the routed one
	// unreachable (nothing of the request was sent); nil when there is
	// none.
	Redispatch(cause error) *Pool
	// RequestField is asked about each field line of the kinds a policy
	// may rewrite (FieldCookie, FieldXForwardedHost, FieldXForwardedProto)
	// before it is copied upstream: it returns dst with what goes
	// upstream instead and true, or dst and false to copy the line as it
	// came.
	RequestField(dst []byte, kind FieldKind, name, value []byte) ([]byte, bool)
	// AppendFields appends the policy's own field lines (CRLF-terminated)
	// to the head sent upstream.
	AppendFields(dst []byte, req *Request) []byte
	// Response sees the final response head, and took, the time from
	// taking the server connection to it. It returns the Set-Cookie
	// values to send to the client in place of the server's, whether to
	// add Cache-Control: private, or an error that answers the client 502.
	Response(resp *Response, took time.Duration) (setCookies []string, private bool, err error)
	// Done ends the exchange Route began: ok when the response reached
	// the client whole; took is from the request head read to then, or
	// negative when not measured (an upgraded connection).
	Done(ok bool, took time.Duration)
	Close()
}

// ExchangeLogger is implemented by a Session that keeps an access log:
// the engine hands it each exchange once it ended (answered, refused by
// the engine, or broken), from the connection's goroutine. x and its byte
// slices are valid only during the call.
type ExchangeLogger interface {
	// LogsExchanges reports, once per connection, whether the session
	// wants its exchanges; false spares the engine the measurements.
	LogsExchanges() bool
	LogExchange(x *Exchange)
}

// Exchange is what the engine saw of one request, in HAProxy's terms
// (its httplog timers and termination state). A negative duration is a
// step never reached.
type Exchange struct {
	// Client is the client's address and port.
	Client netip.AddrPort
	// Start is when the request's first bytes were read.
	Start time.Time
	// TR: first byte to the whole head; Tc: taking a server connection
	// (0 for a pooled one, as near as the clock tells); Tr: from then to
	// the response head; Ta: first byte to the end of the response.
	TR, Tc, Tr, Ta time.Duration
	// Status is the status sent to the client, 0 when none was.
	Status int
	// BytesOut are the bytes written to the client for this exchange.
	BytesOut int64
	// End and State are the first two characters of HAProxy's
	// termination state: who ended the exchange ('-' normally, 'C'
	// client, 'S' server, 'P' the proxy refused, 'c'/'s' a client/server
	// timeout) and in what state ('-', 'R' request, 'C' connect, 'H'
	// response head, 'D' data).
	End, State byte
	// Server is the Pool the request went to ("" none); Redispatched when
	// the policy replaced the routed one.
	Server       string
	Redispatched bool
	// Method, Target and Proto make the request line; all empty when the
	// request could not be parsed.
	Method, Target, Proto []byte
}

// FieldKind names the request fields a Session may rewrite.
type FieldKind uint8

const (
	FieldCookie FieldKind = iota + 1
	FieldXForwardedHost
	FieldXForwardedProto
)

// Request is the policy's view of a well-framed request head. Its byte
// slices and strings are views of the connection's read buffer: valid
// only during the call that was handed it.
type Request struct {
	h *head
	b []byte
	// Cookies are the values of every Cookie line, in order (up to the
	// head's field limits).
	Cookies []string
}

// Method returns the request method.
func (r *Request) Method() []byte { return r.h.method.of(r.b) }

// Host returns the Host field's value, and whether the request had one.
func (r *Request) Host() ([]byte, bool) { return r.h.host.of(r.b), r.h.hosts > 0 }

// Response is the policy's view of a final response head, valid as
// Request is.
type Response struct {
	h *head
	b []byte
	// SetCookies are the values of every Set-Cookie line, in order.
	SetCookies []string
}

// Status returns the response's status code.
func (r *Response) Status() int { return r.h.status }

// NumFields returns the number of field lines.
func (r *Response) NumFields() int { return r.h.nfields }

// Field returns the name and value of field line i.
func (r *Response) Field(i int) (name, value []byte) {
	fl := &r.h.fields[i]
	return fl.name.of(r.b), fl.value.of(r.b)
}

// ParseResponse parses a whole response head (for tests and tools; the
// engine parses in place without allocating).
func ParseResponse(b []byte, reqHEAD bool) (*Response, error) {
	r := &Response{h: new(head), b: b}
	if err := parseResponseHead(b, r.h, reqHEAD); err != nil {
		return nil, err
	}
	for i := 0; i < r.h.nfields; i++ {
		if fl := &r.h.fields[i]; fl.id == hdrSetCookie {
			r.SetCookies = append(r.SetCookies, string(fl.value.of(b)))
		}
	}
	return r, nil
}
