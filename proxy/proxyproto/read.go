package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"strconv"
)

// Read reads one header from r, consuming exactly its bytes: r may be the
// connection itself, and what follows the header stays unread. r's
// deadline (or context) bounds the wait; a deadline that passes reads as
// ErrTimeout. Bytes are read in small steps (the header's prefix, then
// its announced length, or version 1's line byte by byte after its
// fixed prefix), so an unbuffered r costs a few reads per header.
func Read(r io.Reader) (Header, error) {
	var pre [16]byte
	// The shortest header, version 1's "PROXY UNKNOWN\r\n", has 15
	// bytes: the first 6 tell the versions apart.
	if err := readFull(r, pre[:6]); err != nil {
		return Header{}, err
	}
	switch {
	case string(pre[:6]) == "PROXY ":
		return readV1(r, pre[:6])
	case bytes.Equal(pre[:6], sigV2[:6]):
		if err := readFull(r, pre[6:16]); err != nil {
			return Header{}, err
		}
		if !bytes.Equal(pre[:12], sigV2[:]) {
			return Header{}, ErrNoHeader
		}
		return readV2(r, pre)
	}
	return Header{}, ErrNoHeader
}

func readFull(r io.Reader, b []byte) error {
	n, err := io.ReadFull(r, b)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case n == 0 && errors.Is(err, io.EOF):
		return errors.Join(ErrTruncated, io.EOF)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	}
	return errors.Join(ErrTruncated, err)
}

// readV1 reads the rest of a version 1 line (pre is "PROXY ") up to its
// CRLF, one byte at a time so nothing past it is consumed.
func readV1(r io.Reader, pre []byte) (Header, error) {
	var line [v1Max]byte
	n := copy(line[:], pre)
	for {
		if n == v1Max {
			return Header{}, malformed("v1: no CRLF within %d bytes", v1Max)
		}
		if err := readFull(r, line[n:n+1]); err != nil {
			return Header{}, err
		}
		n++
		if line[n-1] == '\n' {
			break
		}
	}
	return ParseV1(line[:n])
}

// ParseV1 parses one whole version 1 line, "PROXY ... \r\n". IPv4-mapped
// IPv6 addresses read as the IPv4 ones they map (so do version 2's).
func ParseV1(line []byte) (Header, error) {
	if len(line) > v1Max {
		return Header{}, malformed("v1: longer than %d bytes", v1Max)
	}
	if !bytes.HasPrefix(line, []byte("PROXY ")) {
		return Header{}, ErrNoHeader
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, malformed("v1: does not end with CRLF")
	}
	body := line[len("PROXY ") : len(line)-2]
	if bytes.IndexByte(body, '\r') >= 0 || bytes.IndexByte(body, '\n') >= 0 {
		return Header{}, malformed("v1: CR or LF inside the line")
	}
	f := bytes.Split(body, []byte(" "))
	h := Header{Version: 1}
	switch string(f[0]) {
	case "UNKNOWN":
		// The rest of the line is to be ignored.
		h.Command = Local
		return h, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, malformed("v1: protocol %q (want TCP4, TCP6 or UNKNOWN)", f[0])
	}
	if len(f) != 5 {
		return Header{}, malformed("v1: %d fields after PROXY (want 5, one space apart)", len(f))
	}
	src, err := v1Addr(f[1], string(f[0]) == "TCP4")
	if err != nil {
		return Header{}, malformed("v1: source address: %v", err)
	}
	dst, err := v1Addr(f[2], string(f[0]) == "TCP4")
	if err != nil {
		return Header{}, malformed("v1: destination address: %v", err)
	}
	sp, err := v1Port(f[3])
	if err != nil {
		return Header{}, malformed("v1: source port: %v", err)
	}
	dp, err := v1Port(f[4])
	if err != nil {
		return Header{}, malformed("v1: destination port: %v", err)
	}
	h.Source, h.Dest = netip.AddrPortFrom(src.Unmap(), sp), netip.AddrPortFrom(dst.Unmap(), dp)
	return h, nil
}

func v1Addr(b []byte, v4 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("zone not allowed")
	}
	if v4 != a.Is4() {
		return netip.Addr{}, errors.New("family does not match the protocol")
	}
	return a, nil
}

// v1Port reads a decimal port, 0..65535, with no sign and no leading zero
// (the specification's "without leading zeroes").
func v1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, errors.New("not a port")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a port")
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return 0, errors.New("not a port")
	}
	return uint16(n), nil
}

// readV2 reads the addresses and TLVs announced by the 16 fixed bytes.
func readV2(r io.Reader, pre [16]byte) (Header, error) {
	n := int(binary.BigEndian.Uint16(pre[14:16]))
	if n > MaxV2Len {
		return Header{}, malformed("v2: %d bytes of addresses and TLVs (at most %d)", n, MaxV2Len)
	}
	buf := make([]byte, 16+n)
	copy(buf, pre[:])
	if err := readFull(r, buf[16:]); err != nil {
		return Header{}, err
	}
	return ParseV2(buf)
}

// ParseV2 parses one whole version 2 header: the 16 fixed bytes and the
// length they announce, no more.
func ParseV2(b []byte) (Header, error) {
	if len(b) < 16 || !bytes.Equal(b[:12], sigV2[:]) {
		return Header{}, ErrNoHeader
	}
	n := int(binary.BigEndian.Uint16(b[14:16]))
	if n > MaxV2Len {
		return Header{}, malformed("v2: %d bytes of addresses and TLVs (at most %d)", n, MaxV2Len)
	}
	if len(b) != 16+n {
		return Header{}, malformed("v2: %d bytes after the fixed part, the length says %d", len(b)-16, n)
	}
	h := Header{Version: 2}
	if v := b[12] >> 4; v != 2 {
		return Header{}, malformed("v2: version %d", v)
	}
	switch b[12] & 0xF {
	case 0x0:
		h.Command = Local
	case 0x1:
		h.Command = Proxy
	default:
		return Header{}, malformed("v2: command %#x", b[12]&0xF)
	}
	if h.Command == Local {
		// The receiver must accept a LOCAL header and discard its
		// protocol block, family included.
		return h, nil
	}
	fam, tr := b[13]>>4, b[13]&0xF
	body := b[16:]
	var alen int
	switch fam {
	case famUnspec:
		alen = 0
	case famInet:
		alen = 12
	case famInet6:
		alen = 36
	case famUnix:
		alen = 216
	default:
		return Header{}, malformed("v2: address family %#x", fam)
	}
	switch {
	case fam == famUnspec && tr != 0:
		return Header{}, malformed("v2: AF_UNSPEC with transport %#x", tr)
	case fam != famUnspec && tr != trStream && tr != trDgram:
		return Header{}, malformed("v2: transport %#x", tr)
	}
	if len(body) < alen {
		return Header{}, malformed("v2: %d bytes for %d of addresses", len(body), alen)
	}
	if err := checkTLVs(body[alen:]); err != nil {
		return Header{}, err
	}
	if fam == famUnspec || fam == famUnix {
		// No IP addresses to pass on: the socket's apply.
		return h, nil
	}
	if tr != trStream {
		return Header{}, malformed("v2: a datagram transport on a stream connection")
	}
	switch fam {
	case famInet:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case famInet6:
		// An IPv4-mapped address is the IPv4 client it maps.
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
	}
	return h, nil
}

// checkTLVs walks the TLVs after the addresses: each must fit whole. Their
// contents are skipped (none changes routing here).
func checkTLVs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return malformed("v2: %d stray bytes after the last TLV", len(b))
		}
		l := int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+l {
			return malformed("v2: TLV %#x of %d bytes overruns the header", b[0], l)
		}
		b = b[3+l:]
	}
	return nil
}
