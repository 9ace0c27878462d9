package r53emu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	sigV4Terminator = "aws4_request"
)

// sigV4Verifier checks the SigV4 Authorization header of a request by
// recomputing the signature: canonical request, string to sign, and the
// HMAC-SHA256 key derivation chain.
type sigV4Verifier struct {
	service string
	regions []string // empty: any
	maxSkew time.Duration
	now     time.Time
	secret  func(accessKey string) (string, bool)
}

// authHeader is the parsed Authorization header.
type authHeader struct {
	accessKey     string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// verify checks the signature of r, whose body has been read into body. It
// returns the access key the request claims (for logging, also when the
// check fails) and the error, if any.
func (v *sigV4Verifier) verify(r *http.Request, body []byte) (string, *apiError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if r.URL.Query().Get("X-Amz-Algorithm") != "" {
			return "", clientError("InvalidInput", "Query-string (presigned) authentication is not supported by this emulator; sign with the Authorization header")
		}
		return "", newAPIError(http.StatusForbidden, "MissingAuthenticationToken", "Missing Authentication Token")
	}
	h, apiErr := parseAuthHeader(authz)
	if apiErr != nil {
		return "", apiErr
	}
	return v.check(r, body, h)
}

// check verifies a parsed Authorization header against the request.
func (v *sigV4Verifier) check(r *http.Request, body []byte, h authHeader) (string, *apiError) {
	fail := func(e *apiError) (string, *apiError) { return h.accessKey, e }
	secret, ok := v.secret(h.accessKey)
	if !ok {
		return fail(errAuthFailure())
	}
	if h.service != v.service {
		return fail(newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: '%s'.", v.service))
	}
	if len(v.regions) > 0 && !slices.Contains(v.regions, h.region) {
		return fail(newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to a valid region."))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return fail(newAPIError(http.StatusForbidden, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."))
	}
	t, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return fail(newAPIError(http.StatusForbidden, "IncompleteSignature", "X-Amz-Date %q is not in the form YYYYMMDD'T'HHMMSS'Z'", amzDate))
	}
	if h.date != amzDate[:8] {
		return fail(errAuthFailure())
	}
	if v.maxSkew > 0 {
		if d := v.now.Sub(t); d > v.maxSkew || -d > v.maxSkew {
			return fail(newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", "Signature expired: the request time is too far from the server time."))
		}
	}
	if !slices.Contains(h.signedHeaders, "host") {
		return fail(newAPIError(http.StatusForbidden, "IncompleteSignature", "'Host' must be a signed header."))
	}

	payloadHash := sha256Hex(body)
	switch declared := r.Header.Get("X-Amz-Content-Sha256"); declared {
	case "", payloadHash:
	case "UNSIGNED-PAYLOAD":
		payloadHash = declared
	default:
		return fail(errAuthFailure())
	}
	creq := canonicalRequest(r, h.signedHeaders, payloadHash)
	scope := h.date + "/" + h.region + "/" + h.service + "/" + sigV4Terminator
	sts := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(creq))
	want := hex.EncodeToString(hmacSHA256(signingKey(secret, h.date, h.region, h.service), sts))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(h.signature))) {
		return fail(errAuthFailure())
	}
	return h.accessKey, nil
}

// parseAuthHeader parses
// "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex".
func parseAuthHeader(s string) (authHeader, *apiError) {
	var h authHeader
	alg, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || alg != sigV4Algorithm {
		return h, newAPIError(http.StatusForbidden, "IncompleteSignature", "Unsupported authorization algorithm %q; only %s is accepted", alg, sigV4Algorithm)
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
			h.signature = val
		}
	}
	if cred == "" || signed == "" || h.signature == "" {
		return h, newAPIError(http.StatusForbidden, "IncompleteSignature", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != sigV4Terminator || len(scope[1]) != 8 {
		return h, newAPIError(http.StatusForbidden, "IncompleteSignature", "Credential %q is not of the form ACCESSKEY/YYYYMMDD/REGION/SERVICE/aws4_request", cred)
	}
	h.accessKey, h.date, h.region, h.service = scope[0], scope[1], scope[2], scope[3]
	h.signedHeaders = strings.Split(signed, ";")
	if !slices.IsSorted(h.signedHeaders) {
		return h, newAPIError(http.StatusForbidden, "IncompleteSignature", "SignedHeaders must be sorted")
	}
	return h, nil
}

// canonicalRequest builds SigV4's canonical request for a non-S3 service.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
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
		segs[i] = awsURIEncode(s)
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
		pairs = append(pairs, kv{awsURIEncode(k), awsURIEncode(v)})
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
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// awsURIEncode percent-encodes every byte except the RFC 3986 unreserved
// characters, with upper-case hex.
func awsURIEncode(s string) string {
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

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, sigV4Terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
