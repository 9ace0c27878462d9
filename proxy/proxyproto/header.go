package proxyproto

import (
	"errors"
	"fmt"
	"net/netip"
)

// Version is the header's version: 1 (text) or 2 (binary).
type Version uint8

// Command is what a version 2 header announces: a proxied connection, or
// one the proxy made itself (a health check) whose own addresses count.
// Version 1's UNKNOWN reads as Local.
type Command uint8

const (
	// Proxy: the connection was relayed on behalf of Source.
	Proxy Command = iota
	// Local: the proxy's own connection (health check); the socket's
	// addresses apply and Source/Dest are unset.
	Local
)

// Header is one PROXY protocol header.
type Header struct {
	Version Version
	Command Command
	// Source and Dest are the client's and the address it connected to;
	// invalid for Local, for UNKNOWN, and for version 2's AF_UNSPEC and
	// AF_UNIX (whose addresses are read and dropped).
	Source, Dest netip.AddrPort
}

// The reasons a header is refused. Every error Read returns wraps one of
// them (errors.Is), and Reason names it for counters.
var (
	// ErrNoHeader: the connection's first bytes are not a PROXY header.
	ErrNoHeader = errors.New("not a PROXY protocol header")
	// ErrMalformed: the header breaks the specification.
	ErrMalformed = errors.New("malformed PROXY protocol header")
	// ErrTruncated: the connection ended (or failed) inside the header.
	ErrTruncated = errors.New("truncated PROXY protocol header")
	// ErrTimeout: the header did not arrive in time.
	ErrTimeout = errors.New("PROXY protocol header timeout")
)

// Reason returns the short name of why err refused a header: "missing",
// "malformed", "truncated", "timeout" or "error".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrNoHeader):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	}
	return "error"
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// v1Max is version 1's longest header, CRLF included.
const v1Max = 107

// sigV2 is version 2's 12-byte signature.
var sigV2 = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// Version 2's address families and transports (the 14th byte).
const (
	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3
	trStream  = 0x1
	trDgram   = 0x2
)

// MaxV2Len is the most a version 2 header may carry after its 16 fixed
// bytes (addresses and TLVs) that the reader accepts: the UNIX addresses
// (216) and room for a load balancer's TLVs (an AWS NLB's VPC endpoint
// id, ALPN, authority, SSL fields). Longer is refused as malformed.
const MaxV2Len = 1024
