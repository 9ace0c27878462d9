package proxy

import (
	"bytes"
	"strings"

	"github.com/haraft/haraft/proxy/h1"
)

// maxCookieValue bounds a session cookie value; a longer one is treated as
// no cookie.
const maxCookieValue = 512

// validCookieValue reports whether v is a non-empty RFC 6265 cookie-value
// (without quotes) of reasonable length. Anything else is treated as no
// cookie at all, never as an error.
func validCookieValue(v string) bool {
	if v == "" || len(v) > maxCookieValue {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// requestCookie returns the value of the named cookie in the request's
// Cookie header lines (the first occurrence), without allocating.
func requestCookie(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			n, v, ok := strings.Cut(part, "=")
			if ok && n == name {
				return trimQuotes(v), true
			}
		}
	}
	return "", false
}

// cookieAmbiguous reports whether the named cookie appears again in the
// Cookie header lines with a value other than first. Such a request names
// two sessions at once: the router still uses the first value when this
// node knows it, but never treats it as a session committed elsewhere a
// moment ago (no leader catch-up), since no single response created both.
func cookieAmbiguous(lines []string, name, first string) bool {
	seen := false
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || n != name {
				continue
			}
			if seen && trimQuotes(v) != first {
				return true
			}
			seen = true
		}
	}
	return false
}

func trimQuotes(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// rewriteRequestCookie rewrites the named cookie in the Cookie header
// lines: with keep false it is removed (HAProxy `indirect`), otherwise its
// value is replaced by value (prefix mode strips the server prefix). Lines
// left empty are dropped.
func rewriteRequestCookie(lines []string, name string, keep bool, value string) []string {
	out := lines[:0:0]
	for _, line := range lines {
		b, changed := appendRewrittenCookie(nil, line, name, keep, value)
		if !changed {
			out = append(out, line)
		} else if len(b) > 0 {
			out = append(out, string(b))
		}
	}
	return out
}

// appendRewrittenCookie appends one Cookie header line with the named
// cookie removed (keep false) or its value replaced, and reports whether
// the line named it at all (when not, nothing is appended: the line stays
// as it is).
func appendRewrittenCookie(dst []byte, line, name string, keep bool, value string) ([]byte, bool) {
	start := len(dst)
	changed := false
	rest := line
	for len(rest) > 0 {
		var part string
		part, rest, _ = strings.Cut(rest, ";")
		trimmed := strings.TrimSpace(part)
		if trimmed == "" {
			continue
		}
		if len(dst) > start {
			dst = append(dst, "; "...)
		}
		if n, _, ok := strings.Cut(trimmed, "="); ok && n == name {
			changed = true
			if !keep {
				if len(dst) > start {
					dst = dst[:len(dst)-2]
				}
				continue
			}
			dst = append(dst, name...)
			dst = append(dst, '=')
			dst = append(dst, value...)
			continue
		}
		dst = append(dst, trimmed...)
	}
	if !changed {
		return dst[:start], false
	}
	return dst, true
}

// appendCookieField appends the Cookie field line (name, value as the
// client sent them) that goes to the server under route r: the cookie
// mode's own cookie removed or rewritten, nothing when no cookie is left.
func (b *Backend) appendCookieField(dst, name []byte, value string, r *route) []byte {
	start := len(dst)
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	mark := len(dst)
	dst, changed := appendRewrittenCookie(dst, value, b.Cookie.Name, r.cookieKeep, r.cookieValue)
	if !changed {
		dst = append(dst, value...)
	}
	if len(dst) == mark {
		return dst[:start]
	}
	return append(dst, "\r\n"...)
}

// setCookieValue returns the name and value of a Set-Cookie header line.
func setCookieValue(line string) (name, value string, ok bool) {
	nv, _, _ := strings.Cut(line, ";")
	name, value, ok = strings.Cut(strings.TrimSpace(nv), "=")
	return strings.TrimSpace(name), trimQuotes(strings.TrimSpace(value)), ok
}

// replaceSetCookieValue replaces the value in a Set-Cookie line, keeping
// its attributes.
func replaceSetCookieValue(line, name, value string) string {
	_, attrs, hasAttrs := strings.Cut(line, ";")
	if hasAttrs {
		return name + "=" + value + ";" + attrs
	}
	return name + "=" + value
}

// cacheableResponse reports whether HAProxy would consider a response
// cacheable, which is when `cookie ... nocache` appends "Cache-Control:
// private" to a response carrying an inserted cookie: a safe method, a
// status cacheable by default (RFC 7231 6.1), no Pragma: no-cache, no
// Cache-Control value forbidding it, and either freshness information
// (max-age, s-maxage, Expires) or a validator (ETag, Last-Modified). Read
// off HAProxy 2.6.12 and its http_check_response_for_cacheability; the
// differential test compares the two.
func cacheableResponse(safeMethod bool, resp *h1.Response) bool {
	if !safeMethod {
		return false
	}
	switch resp.Status() {
	case 200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501:
	default:
		return false
	}
	fresh := false
	for i := 0; i < resp.NumFields(); i++ {
		name, value := resp.Field(i)
		switch {
		case equalFoldASCII(name, "pragma"):
			if equalFoldASCII(bytes.TrimSpace(value), "no-cache") {
				return false
			}
		case equalFoldASCII(name, "cache-control"):
			for item := range bytes.SplitSeq(value, []byte(",")) {
				item = bytes.TrimSpace(item)
				switch {
				case equalFoldASCII(item, "private"), equalFoldASCII(item, "no-cache"), equalFoldASCII(item, "no-store"),
					equalFoldASCII(item, "max-age=0"), equalFoldASCII(item, "s-maxage=0"):
					return false
				case hasPrefixFold(item, "max-age"), hasPrefixFold(item, "s-maxage"):
					fresh = true
				}
			}
		case equalFoldASCII(name, "expires"), equalFoldASCII(name, "etag"), equalFoldASCII(name, "last-modified"):
			fresh = true
		}
	}
	return fresh
}

// safeMethod reports the methods after which HAProxy considers a response
// cacheable at all: GET, HEAD, OPTIONS, TRACE.
func safeMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, lower string) bool {
	return len(b) >= len(lower) && equalFoldASCII(b[:len(lower)], lower)
}
