package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func v2(verCmd, famTr byte, body ...byte) []byte {
	b := append([]byte{}, sigV2[:]...)
	b = append(b, verCmd, famTr)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func inet4Body() []byte {
	return []byte{192, 0, 2, 1, 198, 51, 100, 7, 0xC3, 0x50, 0x01, 0xBB} // 192.0.2.1:50000 -> 198.51.100.7:443
}

func TestRead(t *testing.T) {
	src4 := netip.MustParseAddrPort("192.0.2.1:50000")
	dst4 := netip.MustParseAddrPort("198.51.100.7:443")
	src6 := netip.MustParseAddrPort("[2001:db8::1]:1234")
	dst6 := netip.MustParseAddrPort("[2001:db8::2]:80")
	inet6 := append(append(append([]byte{}, src6.Addr().AsSlice()...), dst6.Addr().AsSlice()...), 0x04, 0xD2, 0x00, 0x50)
	tlv := []byte{0x01, 0x00, 0x02, 'h', '2', 0xEA, 0x00, 0x03, 'v', 'p', 'c'} // ALPN, AWS
	tests := []struct {
		name string
		in   []byte
		want Header
		err  error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\n"), Header{Version: 1, Source: src4, Dest: dst4}, nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"), Header{Version: 1, Source: src6, Dest: dst6}, nil},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Command: Local}, nil},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"), Header{Version: 1, Command: Local}, nil},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{Version: 1, Source: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dest: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}, nil},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n"), Header{}, ErrMalformed},
		{"v1 bare LF", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\n"), Header{}, ErrMalformed},
		{"v1 two spaces", []byte("PROXY TCP4 192.0.2.1  198.51.100.7 50000 443\r\n"), Header{}, ErrMalformed},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 198.51.100.7 50000 443\r\n"), Header{}, ErrMalformed},
		{"v1 tcp6 with v4", []byte("PROXY TCP6 192.0.2.1 198.51.100.7 50000 443\r\n"), Header{}, ErrMalformed},
		{"v1 port leading zero", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 050000 443\r\n"), Header{}, ErrMalformed},
		{"v1 port too big", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n"), Header{}, ErrMalformed},
		{"v1 port sign", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 +5 443\r\n"), Header{}, ErrMalformed},
		{"v1 address leading zero", []byte("PROXY TCP4 192.0.2.01 198.51.100.7 5 443\r\n"), Header{}, ErrMalformed},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n"), Header{}, ErrMalformed},
		{"v1 udp", []byte("PROXY UDP4 192.0.2.1 198.51.100.7 5 443\r\n"), Header{}, ErrMalformed},
		{"v1 missing field", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 5\r\n"), Header{}, ErrMalformed},
		{"v1 lowercase", []byte("proxy TCP4 192.0.2.1 198.51.100.7 5 443\r\n"), Header{}, ErrNoHeader},
		{"v1 truncated", []byte("PROXY TCP4 192.0.2.1"), Header{}, ErrTruncated},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Header{}, ErrNoHeader},
		{"tls hello", []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00}, Header{}, ErrNoHeader},
		{"empty", nil, Header{}, ErrTruncated},
		{"v2 inet", v2(0x21, 0x11, inet4Body()...), Header{Version: 2, Source: src4, Dest: dst4}, nil},
		{"v2 inet6", v2(0x21, 0x21, inet6...), Header{Version: 2, Source: src6, Dest: dst6}, nil},
		{"v2 inet with TLVs", v2(0x21, 0x11, append(inet4Body(), tlv...)...), Header{Version: 2, Source: src4, Dest: dst4}, nil},
		{"v2 local", v2(0x20, 0x00), Header{Version: 2, Command: Local}, nil},
		{"v2 local with addresses", v2(0x20, 0x11, inet4Body()...), Header{Version: 2, Command: Local}, nil},
		{"v2 unspec", v2(0x21, 0x00), Header{Version: 2}, nil},
		{"v2 unix", v2(0x21, 0x31, make([]byte, 216)...), Header{Version: 2}, nil},
		{"v2 version 1", v2(0x11, 0x11, inet4Body()...), Header{}, ErrMalformed},
		{"v2 command 2", v2(0x22, 0x11, inet4Body()...), Header{}, ErrMalformed},
		{"v2 family 4", v2(0x21, 0x41, inet4Body()...), Header{}, ErrMalformed},
		{"v2 transport 3", v2(0x21, 0x13, inet4Body()...), Header{}, ErrMalformed},
		{"v2 udp", v2(0x21, 0x12, inet4Body()...), Header{}, ErrMalformed},
		{"v2 short addresses", v2(0x21, 0x11, inet4Body()[:8]...), Header{}, ErrMalformed},
		{"v2 TLV overrun", v2(0x21, 0x11, append(inet4Body(), 0x01, 0x00, 0x09, 'x')...), Header{}, ErrMalformed},
		{"v2 stray bytes", v2(0x21, 0x11, append(inet4Body(), 0x01, 0x00)...), Header{}, ErrMalformed},
		{"v2 too long", v2(0x21, 0x11, append(inet4Body(), make([]byte, MaxV2Len)...)...), Header{}, ErrMalformed},
		{"v2 truncated", v2(0x21, 0x11, inet4Body()...)[:20], Header{}, ErrTruncated},
		{"v2 bad signature", append([]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B}, 0x21, 0x00, 0, 0), Header{}, ErrNoHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte("payload")
			r := bytes.NewReader(append(append([]byte{}, tt.in...), payload...))
			if tt.err == ErrTruncated {
				r = bytes.NewReader(tt.in)
			}
			h, err := Read(r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Read: err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if h != tt.want {
				t.Fatalf("Read: %+v, want %+v", h, tt.want)
			}
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, payload) {
				t.Fatalf("left %q after the header, want %q", rest, payload)
			}
		})
	}
}

// TestReadTimeout: a connection that sends half a header and stops reads
// as ErrTimeout once its deadline passes.
func TestReadTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = b.Write([]byte("PROXY TCP4 1.2")) }()
	_ = a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := Read(a)
	if !errors.Is(err, ErrTimeout) || Reason(err) != "timeout" {
		t.Fatalf("err %v (reason %s), want a timeout", err, Reason(err))
	}
}

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"GET / HTTP/1.1\r\n", "missing"},
		{"PROXY TCP4 x\r\n", "malformed"},
		{"PROXY", "truncated"},
	} {
		_, err := Read(strings.NewReader(tt.in))
		if got := Reason(err); got != tt.want {
			t.Errorf("Reason(Read(%q)) = %s (%v), want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestReadMapped: an IPv4-mapped IPv6 client is the IPv4 client (one
// stick-on-src key, one log address), in both versions.
func TestReadMapped(t *testing.T) {
	want := netip.MustParseAddrPort("192.0.2.1:5")
	m := netip.MustParseAddr("::ffff:192.0.2.1").As16()
	body := append(append(m[:], m[:]...), 0, 5, 0, 5)
	for _, in := range [][]byte{[]byte("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.1 5 5\r\n"), v2(0x21, 0x21, body...)} {
		h, err := Read(bytes.NewReader(in))
		if err != nil || h.Source != want || h.Dest != want {
			t.Errorf("%q: %+v %v, want source and destination %v", in, h, err, want)
		}
	}
}
