package proxyproto

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzRead: no input panics Read; a header it accepts consumed at most
// what the input holds, and the header written back reads the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x21, 0x11, inet4Body()...))
	f.Add(v2(0x21, 0x11, append(inet4Body(), 0x01, 0x00, 0x02, 'h', '2')...))
	f.Add(v2(0x20, 0x00))
	f.Add(v2(0x21, 0x31, make([]byte, 216)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := Read(r)
		if err != nil {
			if Reason(err) == "error" {
				t.Fatalf("error with no reason: %v", err)
			}
			return
		}
		used := in[:len(in)-r.Len()]
		var again Header
		if h.Version == 1 {
			again, err = ParseV1(used)
		} else {
			again, err = ParseV2(used)
		}
		if err != nil || again != h {
			t.Fatalf("Parse of the bytes Read consumed: %+v %v, Read said %+v", again, err, h)
		}
		if h.Command == Proxy && !h.Source.IsValid() {
			return // AF_UNSPEC, AF_UNIX: nothing to write back
		}
		out, err := h.Append(nil)
		if err != nil {
			t.Fatalf("Append(%+v): %v", h, err)
		}
		back, err := Read(bytes.NewReader(out))
		if err != nil || back != h {
			t.Fatalf("round trip: %+v %v, want %+v", back, err, h)
		}
	})
}

// FuzzRoundTrip: any addresses written in either version read back as
// written (IPv4-mapped ones as IPv4).
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(1), false, []byte{192, 0, 2, 1}, uint16(1), []byte{198, 51, 100, 7}, uint16(443))
	f.Add(uint8(2), false, make([]byte, 16), uint16(0), make([]byte, 16), uint16(65535))
	f.Add(uint8(2), true, []byte{}, uint16(0), []byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, ver uint8, local bool, s []byte, sp uint16, d []byte, dp uint16) {
		sa, ok1 := netip.AddrFromSlice(s)
		da, ok2 := netip.AddrFromSlice(d)
		h := Header{Version: Version(ver%2 + 1)}
		if local {
			h.Command = Local
		} else {
			if !ok1 || !ok2 {
				return
			}
			h.Source, h.Dest = netip.AddrPortFrom(sa.Unmap(), sp), netip.AddrPortFrom(da.Unmap(), dp)
			if h.Source.Addr().Is4() != h.Dest.Addr().Is4() {
				return // mixed families: written in the source's (TestAppend)
			}
		}
		out, err := h.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Read(bytes.NewReader(out))
		if err != nil || back != h {
			t.Fatalf("%q read back as %+v %v, want %+v", out, back, err, h)
		}
	})
}
