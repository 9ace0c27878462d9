package proxyproto

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestAppend(t *testing.T) {
	src4 := netip.MustParseAddrPort("192.0.2.1:50000")
	dst4 := netip.MustParseAddrPort("198.51.100.7:443")
	tests := []struct {
		name string
		h    Header
		want []byte
		back Header // what Read returns (Unmap, families matched)
	}{
		{"v1 tcp4", Header{Version: 1, Source: src4, Dest: dst4}, []byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\n"), Header{Version: 1, Source: src4, Dest: dst4}},
		{"v1 mapped", Header{Version: 1, Source: netip.MustParseAddrPort("[::ffff:192.0.2.1]:50000"), Dest: dst4}, []byte("PROXY TCP4 192.0.2.1 198.51.100.7 50000 443\r\n"), Header{Version: 1, Source: src4, Dest: dst4}},
		{"v1 mixed", Header{Version: 1, Source: netip.MustParseAddrPort("[2001:db8::1]:1"), Dest: dst4}, []byte("PROXY TCP6 2001:db8::1 :: 1 443\r\n"),
			Header{Version: 1, Source: netip.MustParseAddrPort("[2001:db8::1]:1"), Dest: netip.MustParseAddrPort("[::]:443")}},
		{"v1 local", Header{Version: 1, Command: Local}, []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Command: Local}},
		{"v2 local", Header{Version: 2, Command: Local}, v2(0x20, 0x00), Header{Version: 2, Command: Local}},
		{"v2 inet", Header{Version: 2, Source: src4, Dest: dst4}, v2(0x21, 0x11, inet4Body()...), Header{Version: 2, Source: src4, Dest: dst4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.h.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Append: %q, want %q", got, tt.want)
			}
			h, err := Read(bytes.NewReader(got))
			if err != nil || h != tt.back {
				t.Fatalf("Read back: %+v %v, want %+v", h, err, tt.back)
			}
		})
	}
	if _, err := (Header{Version: 2}).Append(nil); err == nil {
		t.Error("a PROXY header without addresses was written")
	}
	if _, err := (Header{Version: 3, Command: Local}).Append(nil); err == nil {
		t.Error("version 3 was written")
	}
}
