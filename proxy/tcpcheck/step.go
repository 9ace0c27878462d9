package tcpcheck

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is what a step does, by HAProxy's words.
type Kind uint8

const (
	// Send writes bytes to the server (tcp-check send, send-binary).
	Send Kind = iota + 1
	// ExpectString waits for an exact string (tcp-check expect string).
	ExpectString
	// ExpectRString waits for a regular expression match (expect rstring).
	ExpectRString
	// ExpectBinary waits for exact bytes given in hex (expect binary).
	ExpectBinary
)

// MaxPattern is the longest send, expected string, bytes or regular
// expression a step takes (after decoding), in bytes.
const MaxPattern = 4096

// Step is one parsed step.
type Step struct {
	Kind Kind
	// Data is what Send writes, or the bytes an ExpectString or
	// ExpectBinary step looks for.
	Data []byte
	// Re is an ExpectRString step's expression.
	Re *regexp.Regexp
	// text is how the step reads in reasons: `expect string "+PONG"`.
	text string
}

// String names the step as reasons do: send, expect string "+PONG",
// expect rstring "^\\+PONG", expect binary 2b504f4e47.
func (s Step) String() string { return s.text }

// ParseSend parses tcp-check send's text: HAProxy's escapes are decoded
// (Unescape).
func ParseSend(text string) (Step, error) {
	b, err := Unescape(text)
	if err != nil {
		return Step{}, err
	}
	if err := checkLen(b); err != nil {
		return Step{}, err
	}
	return Step{Kind: Send, Data: b, text: "send"}, nil
}

// ParseSendBinary parses tcp-check send-binary's hex string.
func ParseSendBinary(hexText string) (Step, error) {
	b, err := ParseHex(hexText)
	if err != nil {
		return Step{}, err
	}
	if err := checkLen(b); err != nil {
		return Step{}, err
	}
	return Step{Kind: Send, Data: b, text: "send-binary"}, nil
}

// ParseExpect parses tcp-check expect's match kind ("string", "rstring",
// "binary") and pattern. A string is decoded as send's text is; an
// rstring is a Go (RE2) regular expression, not decoded (its backslashes
// are the expression's); binary is hex.
func ParseExpect(kind, pattern string) (Step, error) {
	var (
		s   Step
		err error
	)
	switch kind {
	case "string":
		s.Kind = ExpectString
		s.Data, err = Unescape(pattern)
		if err == nil {
			s.text = "expect string " + quote(s.Data)
		}
	case "binary":
		s.Kind = ExpectBinary
		s.Data, err = ParseHex(pattern)
		if err == nil {
			s.text = "expect binary " + hex.EncodeToString(s.Data[:min(len(s.Data), maxShown/2)])
			if len(s.Data) > maxShown/2 {
				s.text += "..."
			}
		}
	case "rstring":
		s.Kind = ExpectRString
		if len(pattern) > MaxPattern {
			return Step{}, fmt.Errorf("%d bytes long (at most %d)", len(pattern), MaxPattern)
		}
		if s.Re, err = regexp.Compile(pattern); err != nil {
			// regexp's errors begin with "error parsing regexp: ".
			return Step{}, fmt.Errorf("invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		if s.Re.MatchString("") {
			return Step{}, errors.New("the expression matches nothing as well (an empty answer would pass)")
		}
		s.text = "expect rstring " + quote([]byte(pattern))
		return s, nil
	default:
		return Step{}, fmt.Errorf("unknown match %q (allowed: string, rstring, binary)", kind)
	}
	if err != nil {
		return Step{}, err
	}
	if len(s.Data) == 0 {
		return Step{}, errors.New("empty pattern (it would match anything)")
	}
	if err := checkLen(s.Data); err != nil {
		return Step{}, err
	}
	return s, nil
}

// maxShown is how many bytes of a pattern a step's name quotes: reasons
// travel in the replicated health views, so they stay short.
const maxShown = 64

// quote quotes b for a step's name, cut at maxShown bytes.
func quote(b []byte) string {
	if len(b) > maxShown {
		return fmt.Sprintf("%q...", b[:maxShown])
	}
	return fmt.Sprintf("%q", b)
}

func checkLen(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty")
	}
	if len(b) > MaxPattern {
		return fmt.Errorf("%d bytes long (at most %d)", len(b), MaxPattern)
	}
	return nil
}

// Unescape decodes HAProxy's escapes in a tcp-check argument: \r \n \t
// \\ \xHH and a backslash before a space, a quote or '#'. Any other
// backslash is an error, as is a \x without two hex digits. (In YAML a
// double-quoted "PING\r\n" is already decoded by YAML itself; a plain or
// single-quoted PING\r\n is decoded here.)
func Unescape(s string) ([]byte, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return []byte(s), nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("a lone backslash at byte %d (write \\\\ for one)", i)
		}
		i++
		switch e := s[i]; e {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '\\', ' ', '"', '\'', '#':
			out = append(out, e)
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("\\x at byte %d needs two hex digits", i-1)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("\\x at byte %d needs two hex digits, got %q", i-1, s[i+1:i+3])
			}
			out = append(out, byte(v))
			i += 2
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			return nil, fmt.Errorf("unknown escape %q at byte %d (allowed: \\r \\n \\t \\\\ \\xHH, and \\ before a space, a quote or #)", s[i-1:i+n], i-1)
		}
	}
	return out, nil
}

// ParseHex decodes a hex string (even length, digits 0-9 a-f A-F; spaces
// are not allowed, as HAProxy's send-binary).
func ParseHex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("invalid hex: odd length %d", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		var ie hex.InvalidByteError
		if errors.As(err, &ie) {
			at := strings.IndexByte(s, byte(ie))
			return nil, fmt.Errorf("invalid hex: %q at byte %d is not a hex digit", s[at:at+1], at)
		}
		return nil, fmt.Errorf("invalid hex: %w", err)
	}
	return b, nil
}
