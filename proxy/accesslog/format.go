package accesslog

import (
	"fmt"
	"strconv"
	"time"
)

// Format is how a Logger writes its lines.
type Format uint8

const (
	// FormatHAProxy writes HTTP lines as "option httplog" and TCP lines as
	// "option tcplog".
	FormatHAProxy Format = iota
	// FormatJSON writes one JSON object per line.
	FormatJSON
)

// ParseFormat reads a format name: "haproxy" (or "httplog", "tcplog",
// empty) or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "haproxy", "httplog", "tcplog":
		return FormatHAProxy, nil
	case "json":
		return FormatJSON, nil
	}
	return 0, fmt.Errorf("unknown access log format %q (want haproxy or json)", s)
}

// String returns the format's name.
func (f Format) String() string {
	if f == FormatJSON {
		return "json"
	}
	return "haproxy"
}

// Append appends l in format f, without a trailing newline.
func (f Format) Append(dst []byte, l *Line) []byte {
	if f == FormatJSON {
		return AppendJSON(dst, l)
	}
	if l.Kind == KindTCP {
		return AppendTCP(dst, l)
	}
	return AppendHTTP(dst, l)
}

// AppendHTTP appends l as HAProxy 2.6's "option httplog" writes it
// (without captures, which haraft does not configure):
//
//	%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r
func AppendHTTP(dst []byte, l *Line) []byte {
	dst = appendClient(dst, l)
	dst = append(dst, " ["...)
	dst = appendDate(dst, l.Start)
	dst = append(dst, "] "...)
	dst = appendNames(dst, l)
	dst = append(dst, ' ')
	dst = appendMS(dst, l.TR)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Tw)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Tc)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Tr)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Ta)
	dst = append(dst, ' ')
	if l.Status == 0 {
		dst = append(dst, "-1"...)
	} else {
		dst = strconv.AppendInt(dst, int64(l.Status), 10)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, l.BytesRead, 10)
	dst = append(dst, " - - "...) // %CC %CS: no captured cookies
	dst = l.Term.append(dst)
	dst = append(dst, ' ')
	dst = appendCounts(dst, l)
	dst = append(dst, " \""...)
	dst = appendRequest(dst, l, encodeHAProxy)
	return append(dst, '"')
}

// AppendTCP appends l as HAProxy 2.6's "option tcplog" writes it:
//
//	%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
func AppendTCP(dst []byte, l *Line) []byte {
	dst = appendClient(dst, l)
	dst = append(dst, " ["...)
	dst = appendDate(dst, l.Start)
	dst = append(dst, "] "...)
	dst = appendNames(dst, l)
	dst = append(dst, ' ')
	dst = appendMS(dst, l.Tw)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Tc)
	dst = append(dst, '/')
	dst = appendMS(dst, l.Tt)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, l.BytesRead, 10)
	dst = append(dst, ' ')
	dst = l.Term.appendSession(dst)
	dst = append(dst, ' ')
	return appendCounts(dst, l)
}

func appendClient(dst []byte, l *Line) []byte {
	if !l.Client.IsValid() {
		return append(dst, "-:-"...)
	}
	dst = l.Client.Addr().Unmap().AppendTo(dst)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(l.Client.Port()), 10)
}

func appendNames(dst []byte, l *Line) []byte {
	dst = appendName(dst, l.Frontend)
	if l.TLS {
		dst = append(dst, '~')
	}
	dst = append(dst, ' ')
	dst = appendName(dst, l.Backend)
	dst = append(dst, '/')
	if l.Server == "" {
		return append(dst, "<NOSRV>"...)
	}
	return appendName(dst, l.Server)
}

// appendName appends a configured name; one that is empty prints "-" and
// bytes that would break the line's fields are escaped.
func appendName(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '#' || c == '/' {
			dst = append(dst, '#', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func appendCounts(dst []byte, l *Line) []byte {
	dst = strconv.AppendInt(dst, int64(l.ActConn), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(l.FeConn), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(l.BeConn), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(l.SrvConn), 10)
	dst = append(dst, '/')
	if l.Redispatched {
		dst = append(dst, '+')
	}
	dst = strconv.AppendInt(dst, int64(l.Retries), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(l.SrvQueue), 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, int64(l.BackendQueue), 10)
}

// appendMS appends d in whole milliseconds, -1 for a negative d.
func appendMS(dst []byte, d time.Duration) []byte {
	if d < 0 {
		return append(dst, "-1"...)
	}
	return strconv.AppendInt(dst, int64(d/time.Millisecond), 10)
}

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendDate appends t as HAProxy's %tr: 06/Feb/2009:12:14:14.655, in t's
// location.
func appendDate(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = append2(dst, d)
	dst = append(dst, '/')
	dst = append(dst, monthNames[mo-1]...)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(y), 10)
	dst = append(dst, ':')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = append(dst, '.')
	ms := t.Nanosecond() / 1e6
	return append(dst, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

const hexDigits = "0123456789ABCDEF"

type encoding uint8

const (
	encodeHAProxy encoding = iota // HAProxy's url_encode_map: '#' and two hex digits
	encodeJSON                    // JSON string escapes
)

// appendRequest appends the request line, "<BADREQ>" when there is none.
func appendRequest(dst []byte, l *Line, enc encoding) []byte {
	if len(l.Method) == 0 && len(l.URI) == 0 && len(l.Proto) == 0 {
		return append(dst, "<BADREQ>"...)
	}
	dst = appendEscaped(dst, l.Method, enc)
	if len(l.URI) > 0 {
		dst = append(dst, ' ')
		dst = appendEscaped(dst, l.URI, enc)
	}
	if len(l.Proto) > 0 {
		dst = append(dst, ' ')
		dst = appendEscaped(dst, l.Proto, enc)
	}
	return dst
}

// appendEscaped appends b escaped as HAProxy escapes a request line in
// its logs (control bytes, bytes past 0x7e, '"' and '#' as #XX) or as a
// JSON string's content.
func appendEscaped(dst, b []byte, enc encoding) []byte {
	for _, c := range b {
		switch {
		case enc == encodeHAProxy && (c < 0x20 || c >= 0x7f || c == '"' || c == '#'):
			dst = append(dst, '#', hexDigits[c>>4], hexDigits[c&15])
		case enc == encodeJSON && (c < 0x20 || c >= 0x7f):
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		case enc == encodeJSON && (c == '"' || c == '\\'):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// AppendJSON appends l as one JSON object. Keys are HAProxy's field
// names where it has them; timers are whole milliseconds, -1 when not
// reached; the date is RFC 3339 with milliseconds.
func AppendJSON(dst []byte, l *Line) []byte {
	dst = append(dst, `{"client_ip":"`...)
	if l.Client.IsValid() {
		dst = l.Client.Addr().Unmap().AppendTo(dst)
	}
	dst = append(dst, `","client_port":`...)
	dst = strconv.AppendUint(dst, uint64(l.Client.Port()), 10)
	dst = append(dst, `,"date":"`...)
	dst = l.Start.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","frontend":`...)
	dst = appendJSONString(dst, l.Frontend)
	dst = append(dst, `,"tls":`...)
	dst = strconv.AppendBool(dst, l.TLS)
	dst = append(dst, `,"backend":`...)
	dst = appendJSONString(dst, l.Backend)
	dst = append(dst, `,"server":`...)
	if l.Server == "" {
		dst = append(dst, `"<NOSRV>"`...)
	} else {
		dst = appendJSONString(dst, l.Server)
	}
	if l.Kind == KindTCP {
		dst = append(dst, `,"mode":"tcp","Tw":`...)
		dst = appendMS(dst, l.Tw)
		dst = append(dst, `,"Tc":`...)
		dst = appendMS(dst, l.Tc)
		dst = append(dst, `,"Tt":`...)
		dst = appendMS(dst, l.Tt)
	} else {
		dst = append(dst, `,"mode":"http","TR":`...)
		dst = appendMS(dst, l.TR)
		dst = append(dst, `,"Tw":`...)
		dst = appendMS(dst, l.Tw)
		dst = append(dst, `,"Tc":`...)
		dst = appendMS(dst, l.Tc)
		dst = append(dst, `,"Tr":`...)
		dst = appendMS(dst, l.Tr)
		dst = append(dst, `,"Ta":`...)
		dst = appendMS(dst, l.Ta)
		dst = append(dst, `,"status":`...)
		if l.Status == 0 {
			dst = append(dst, "-1"...)
		} else {
			dst = strconv.AppendInt(dst, int64(l.Status), 10)
		}
	}
	dst = append(dst, `,"bytes_read":`...)
	dst = strconv.AppendInt(dst, l.BytesRead, 10)
	dst = append(dst, `,"bytes_uploaded":`...)
	dst = strconv.AppendInt(dst, l.BytesUploaded, 10)
	dst = append(dst, `,"termination_state":"`...)
	if l.Kind == KindTCP {
		dst = l.Term.appendSession(dst)
	} else {
		dst = l.Term.append(dst)
	}
	dst = append(dst, `","actconn":`...)
	dst = strconv.AppendInt(dst, int64(l.ActConn), 10)
	dst = append(dst, `,"feconn":`...)
	dst = strconv.AppendInt(dst, int64(l.FeConn), 10)
	dst = append(dst, `,"beconn":`...)
	dst = strconv.AppendInt(dst, int64(l.BeConn), 10)
	dst = append(dst, `,"srv_conn":`...)
	dst = strconv.AppendInt(dst, int64(l.SrvConn), 10)
	dst = append(dst, `,"retries":`...)
	dst = strconv.AppendInt(dst, int64(l.Retries), 10)
	dst = append(dst, `,"srv_queue":`...)
	dst = strconv.AppendInt(dst, int64(l.SrvQueue), 10)
	dst = append(dst, `,"backend_queue":`...)
	dst = strconv.AppendInt(dst, int64(l.BackendQueue), 10)
	if l.Kind == KindHTTP {
		dst = append(dst, `,"request":"`...)
		dst = appendRequest(dst, l, encodeJSON)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}
