// Package sigv4 checks AWS Signature Version 4 Authorization headers the
// way AWS services do: it recomputes the canonical request, the string to
// sign and the HMAC-SHA256 key chain, and compares signatures in constant
// time. The EC2 and Route 53 emulators share it; each turns a refusal's
// Reason into its own service's error code and HTTP status.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// Algorithm is the only signing algorithm accepted.
	Algorithm = "AWS4-HMAC-SHA256"
	// DateLayout is the layout of X-Amz-Date.
	DateLayout = "20060102T150405Z"
	terminator = "aws4_request"
)

// Reason says why a request was refused; a service maps it to its code.
type Reason int

const (
	// MissingAuth: no Authorization header and no presigned query.
	MissingAuth Reason = iota + 1
	// Presigned: query-string (presigned URL) authentication, which is not
	// supported.
	Presigned
	// Incomplete: the header or the date is malformed or lacks a part
	// (AWS's IncompleteSignature).
	Incomplete
	// Mismatch: unknown access key, wrong secret, a signed part changed, a
	// credential date other than X-Amz-Date's, a payload hash that is not
	// the body's.
	Mismatch
	// WrongService: the credential scope names another service.
	WrongService
	// WrongRegion: the credential scope names a region not served.
	WrongRegion
	// Expired: X-Amz-Date is further from the server's clock than allowed.
	Expired
)

var reasonNames = map[Reason]string{
	MissingAuth:  "missing authentication",
	Presigned:    "presigned",
	Incomplete:   "incomplete signature",
	Mismatch:     "signature mismatch",
	WrongService: "wrong service",
	WrongRegion:  "wrong region",
	Expired:      "expired",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is a refused request: why, and a message in AWS's words.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return "sigv4: " + e.Reason.String() + ": " + e.Message }

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

func mismatch() *Error {
	return refuse(Mismatch, "The request signature we calculated does not match the signature you provided.")
}

// Verifier checks requests for one service.
type Verifier struct {
	// Service is the service name the credential scope must carry
	// ("ec2", "route53").
	Service string
	// Regions the scope may name; empty accepts any.
	Regions []string
	// MaxSkew is how far X-Amz-Date may be from Now; zero or negative
	// disables the check.
	MaxSkew time.Duration
	// Now is the server's time for the skew check.
	Now time.Time
	// Secret returns the secret access key of an access key ID.
	Secret func(accessKey string) (string, bool)
}

// Header is a parsed Authorization header.
type Header struct {
	AccessKey     string
	Date          string // yyyymmdd of the scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// Verify checks the signature of r, whose body has been read into body. It
// returns the access key the request claims (for logging, also when the
// check fails) and the refusal, if any.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, *Error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if r.URL.Query().Get("X-Amz-Algorithm") != "" {
			return "", refuse(Presigned, "Query-string (presigned) authentication is not supported by this emulator; sign with the Authorization header")
		}
		return "", refuse(MissingAuth, "Missing Authentication Token")
	}
	h, err := ParseHeader(authz)
	if err != nil {
		return "", err
	}
	return v.check(r, body, h)
}

func (v *Verifier) check(r *http.Request, body []byte, h Header) (string, *Error) {
	fail := func(e *Error) (string, *Error) { return h.AccessKey, e }
	secret, ok := v.Secret(h.AccessKey)
	if !ok {
		return fail(mismatch())
	}
	if h.Service != v.Service {
		return fail(refuse(WrongService, "Credential should be scoped to correct service: '%s'.", v.Service))
	}
	if len(v.Regions) > 0 && !slices.Contains(v.Regions, h.Region) {
		return fail(refuse(WrongRegion, "Credential should be scoped to a valid region."))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return fail(refuse(Incomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."))
	}
	t, err := time.Parse(DateLayout, amzDate)
	if err != nil {
		return fail(refuse(Incomplete, "X-Amz-Date %q is not in the form YYYYMMDD'T'HHMMSS'Z'", amzDate))
	}
	if h.Date != amzDate[:8] {
		return fail(mismatch())
	}
	if v.MaxSkew > 0 {
		if d := v.Now.Sub(t); d > v.MaxSkew || -d > v.MaxSkew {
			return fail(refuse(Expired, "Signature expired: %s is more than %s from the server time %s.", amzDate, v.MaxSkew, v.Now.UTC().Format(DateLayout)))
		}
	}
	if !slices.Contains(h.SignedHeaders, "host") {
		return fail(refuse(Incomplete, "'Host' must be a signed header."))
	}

	payloadHash := SHA256Hex(body)
	switch declared := r.Header.Get("X-Amz-Content-Sha256"); declared {
	case "", payloadHash:
	case "UNSIGNED-PAYLOAD":
		payloadHash = declared
	default:
		return fail(mismatch())
	}
	creq := CanonicalRequest(r, h.SignedHeaders, payloadHash)
	scope := h.Date + "/" + h.Region + "/" + h.Service + "/" + terminator
	sts := Algorithm + "\n" + amzDate + "\n" + scope + "\n" + SHA256Hex([]byte(creq))
	want := hex.EncodeToString(hmacSHA256(SigningKey(secret, h.Date, h.Region, h.Service), sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(h.Signature))) {
		return fail(mismatch())
	}
	return h.AccessKey, nil
}

// ParseHeader parses
// "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
func ParseHeader(s string) (Header, *Error) {
	var h Header
	alg, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || alg != Algorithm {
		return h, refuse(Incomplete, "Unsupported authorization algorithm %q; only %s is accepted", alg, Algorithm)
	}
	var cred, signed string
	for part := range strings.SplitSeq(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signed = val
		case "Signature":
			h.Signature = val
		}
	}
	if cred == "" || signed == "" || h.Signature == "" {
		return h, refuse(Incomplete, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != terminator || len(scope[1]) != 8 {
		return h, refuse(Incomplete, "Credential %q is not of the form ACCESSKEY/YYYYMMDD/REGION/SERVICE/aws4_request", cred)
	}
	h.AccessKey, h.Date, h.Region, h.Service = scope[0], scope[1], scope[2], scope[3]
	h.SignedHeaders = strings.Split(signed, ";")
	if !slices.IsSorted(h.SignedHeaders) {
		return h, refuse(Incomplete, "SignedHeaders must be sorted")
	}
	return h, nil
}

// CanonicalRequest builds SigV4's canonical request for a service other
// than S3.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI encodes the already escaped path once more, segment by
// segment, as every service except S3 expects.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		// Decode as the client meant it, then encode the SigV4 way.
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, kv{uriEncode(k), uriEncode(v)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// canonicalHeaderValue returns the trimmed, space-collapsed, comma-joined
// values of a header. Go's server moves Host and (sometimes)
// Content-Length out of the header map, so they are taken from the request.
func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	default:
		vals = r.Header.Values(name)
		if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// uriEncode percent-encodes every byte except the RFC 3986 unreserved
// characters, with upper-case hex.
func uriEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&0xf])
	}
	return b.String()
}

// SigningKey derives the signing key of a secret for one day, region and
// service.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// SHA256Hex is the lower-case hex SHA-256 of b, as payload hashes are
// written.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Answer is how a service answers one Reason: an HTTP status, an error
// code, and a message ("" keeps the verifier's).
type Answer struct {
	Status  int
	Code    string
	Message string
}

// Answers maps every Reason to a service's answer.
type Answers map[Reason]Answer

// For returns the answer to a refusal; a Reason the table lacks gets the
// Mismatch answer, the one that tells a client least.
func (a Answers) For(err *Error) Answer {
	ans, ok := a[err.Reason]
	if !ok {
		ans = a[Mismatch]
	}
	if ans.Message == "" {
		ans.Message = err.Message
	}
	return ans
}
