package tcpcheck

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestUnescape(t *testing.T) {
	cases := []struct{ in, out, err string }{
		{"PING", "PING", ""},
		{`PING\r\n`, "PING\r\n", ""},
		{`a\tb\\c\ d\"e\'f\#`, "a\tb\\c d\"e'f#", ""},
		{`\x00\xff\x2B`, "\x00\xff+", ""},
		{"PING\r\n", "PING\r\n", ""}, // already decoded by YAML
		{`bad\q`, "", `unknown escape "\\q" at byte 3`},
		{`bad\é`, "", `unknown escape "\\é" at byte 3`},
		{`end\`, "", "a lone backslash at byte 3"},
		{`\x4`, "", `\x at byte 0 needs two hex digits`},
		{`\xZZ`, "", `\x at byte 0 needs two hex digits, got "ZZ"`},
	}
	for _, tc := range cases {
		got, err := Unescape(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Unescape(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.out {
			t.Errorf("Unescape(%q) = %q, %v; want %q", tc.in, got, err, tc.out)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		parse func() (Step, error)
		want  string
	}{
		{func() (Step, error) { return ParseSend("") }, "empty"},
		{func() (Step, error) { return ParseSend(strings.Repeat("x", MaxPattern+1)) }, "4097 bytes long (at most 4096)"},
		{func() (Step, error) { return ParseSendBinary("abc") }, "invalid hex: odd length 3"},
		{func() (Step, error) { return ParseSendBinary("0g") }, `invalid hex: "g" at byte 1 is not a hex digit`},
		{func() (Step, error) { return ParseSendBinary("") }, "empty"},
		{func() (Step, error) { return ParseExpect("string", "") }, "empty pattern"},
		{func() (Step, error) { return ParseExpect("binary", "zz") }, "invalid hex"},
		{func() (Step, error) { return ParseExpect("rstring", "+PONG(") }, "invalid regular expression: missing argument to repetition operator: `+`"},
		{func() (Step, error) { return ParseExpect("rstring", "a*") }, "matches nothing as well"},
		{func() (Step, error) { return ParseExpect("rbinary", "00") }, `unknown match "rbinary" (allowed: string, rstring, binary)`},
	}
	for i, tc := range cases {
		if _, err := tc.parse(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: got %v, want %q", i, err, tc.want)
		}
	}
	long, err := ParseExpect("binary", strings.Repeat("ab", 100))
	if err != nil || long.String() != "expect binary "+strings.Repeat("ab", 32)+"..." {
		t.Fatalf("%v %q", err, long)
	}
	long, err = ParseExpect("string", strings.Repeat("x", MaxPattern))
	if err != nil || long.String() != `expect string "`+strings.Repeat("x", 64)+`"...` {
		t.Fatalf("%v %q", err, long)
	}
	s, err := ParseExpect("string", `+PONG\r\n`)
	if err != nil || s.String() != `expect string "+PONG\r\n"` || string(s.Data) != "+PONG\r\n" {
		t.Fatalf("%v %q %q", err, s, s.Data)
	}
}

// FuzzParse: no input panics the escape decoder, the hex decoder or the
// step parsers; what decodes round-trips.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`PING\r\n`, "+PONG", `\x00\xff`, `\`, `\x`, `\x4`, "cafe", "CAFE0", `^\+PONG`, "(", "a*", `\é`, "\xff\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := Unescape(s); err == nil {
			if len(b) > len(s) {
				t.Fatalf("Unescape(%q) grew to %d bytes", s, len(b))
			}
			if !strings.Contains(s, `\`) && string(b) != s {
				t.Fatalf("Unescape(%q) = %q without an escape", s, b)
			}
		}
		// Every byte escaped as \xHH, or a backslash-free string as is,
		// decodes back to the input.
		var esc strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&esc, `\x%02x`, s[i])
		}
		if b, err := Unescape(esc.String()); err != nil || string(b) != s {
			t.Fatalf("Unescape(%q) = %q, %v; want %q", esc.String(), b, err, s)
		}
		if b, err := ParseHex(s); err == nil && !strings.EqualFold(hex.EncodeToString(b), s) {
			t.Fatalf("ParseHex(%q) = %x", s, b)
		}
		_, _ = ParseSend(s)
		_, _ = ParseSendBinary(s)
		for _, k := range []string{"string", "rstring", "binary", s} {
			if st, err := ParseExpect(k, s); err == nil && st.String() == "" {
				t.Fatalf("ParseExpect(%q, %q) has no name", k, s)
			}
		}
	})
}

// FuzzExpect: a server answering anything, in any pieces, never panics a
// step, never makes it read past MaxRead, and a passing expect matched
// what was sent.
func FuzzExpect(f *testing.F) {
	f.Add("string", "+PONG", []byte("+PONG\r\n"), uint8(3))
	f.Add("rstring", `role:(master|slave)`, []byte("role:slave"), uint8(1))
	f.Add("binary", "cafe", []byte{0xca, 0xfe}, uint8(0))
	f.Fuzz(func(t *testing.T, kind, pattern string, answer []byte, piece uint8) {
		s, err := ParseExpect(kind, pattern)
		if err != nil {
			return
		}
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			n := int(piece) + 1
			for b := answer; len(b) > 0; {
				k := min(n, len(b))
				if _, err := server.Write(b[:k]); err != nil {
					return
				}
				b = b[k:]
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = Run(ctx, client, []Step{s})
		if err == nil && s.match(answer[:min(len(answer), MaxRead)]) < 0 {
			t.Fatalf("%s passed on %q", s, answer)
		}
		if err != nil && strings.Contains(err.Error(), "timeout") {
			t.Fatalf("a closed pipe timed out: %v", err)
		}
		_, _ = io.Copy(io.Discard, client)
	})
}
