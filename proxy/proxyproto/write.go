package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// Append appends h as its Version (1 or 2) writes it. A Proxy header needs
// valid Source and Dest of one family (an IPv4-mapped IPv6 address counts
// as IPv4); version 1 writes a Local header as UNKNOWN.
func (h Header) Append(dst []byte) ([]byte, error) {
	src, dstA := h.Source, h.Dest
	if h.Command == Proxy {
		if !src.IsValid() || !dstA.IsValid() {
			return dst, errors.New("proxyproto: a PROXY header needs source and destination addresses")
		}
		src = netip.AddrPortFrom(src.Addr().Unmap().WithZone(""), src.Port())
		dstA = netip.AddrPortFrom(dstA.Addr().Unmap().WithZone(""), dstA.Port())
		if src.Addr().Is4() != dstA.Addr().Is4() {
			// Mixed families: the destination is written in the source's.
			if src.Addr().Is4() {
				dstA = netip.AddrPortFrom(netip.AddrFrom4([4]byte{}), dstA.Port())
			} else {
				dstA = netip.AddrPortFrom(netip.IPv6Unspecified(), dstA.Port())
			}
		}
	}
	switch h.Version {
	case 1:
		if h.Command == Local {
			return append(dst, "PROXY UNKNOWN\r\n"...), nil
		}
		dst = append(dst, "PROXY "...)
		if src.Addr().Is4() {
			dst = append(dst, "TCP4 "...)
		} else {
			dst = append(dst, "TCP6 "...)
		}
		dst = src.Addr().AppendTo(dst)
		dst = append(dst, ' ')
		dst = dstA.Addr().AppendTo(dst)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(src.Port()), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(dstA.Port()), 10)
		return append(dst, "\r\n"...), nil
	case 2:
		dst = append(dst, sigV2[:]...)
		if h.Command == Local {
			return append(dst, 0x20, 0x00, 0, 0), nil
		}
		if src.Addr().Is4() {
			dst = append(dst, 0x21, famInet<<4|trStream, 0, 12)
			s, d := src.Addr().As4(), dstA.Addr().As4()
			dst = append(dst, s[:]...)
			dst = append(dst, d[:]...)
		} else {
			dst = append(dst, 0x21, famInet6<<4|trStream, 0, 36)
			s, d := src.Addr().As16(), dstA.Addr().As16()
			dst = append(dst, s[:]...)
			dst = append(dst, d[:]...)
		}
		dst = binary.BigEndian.AppendUint16(dst, src.Port())
		return binary.BigEndian.AppendUint16(dst, dstA.Port()), nil
	}
	return dst, errors.New("proxyproto: version must be 1 or 2")
}
