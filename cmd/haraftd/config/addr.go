package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// hostPort is a parsed "host:port".
type hostPort struct {
	host     string // canonical: IPs as netip prints them, names lower-cased; "" = all interfaces
	port     int
	wildcard bool // host is empty, 0.0.0.0 or ::
}

func (h hostPort) String() string { return net.JoinHostPort(h.host, strconv.Itoa(h.port)) }

// addrUse says what an address is for, which decides what is legal.
type addrUse int

const (
	// listenAddr is an address this node binds: the host may be empty or
	// unspecified (all interfaces) and the port 0 (any free port).
	listenAddr addrUse = iota
	// dialAddr is an address others or this node dial: a host and a
	// non-zero port are required. Unspecified hosts are left to the caller.
	dialAddr
)

// parseAddr parses s as host:port for use u; the error is a reason for an
// Error, such as `missing port in address "10.0.0.5"`.
func parseAddr(s string, u addrUse) (hostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return hostPort{}, fmt.Errorf("%s %q", ae.Err, s)
		}
		return hostPort{}, fmt.Errorf("invalid address %q: %v", s, err)
	}
	var h hostPort
	if port == "" || strings.TrimLeft(port, "0123456789") != "" {
		return h, fmt.Errorf("invalid port %q in address %q (want a number)", port, s)
	}
	if h.port, err = strconv.Atoi(port); err != nil || h.port > 65535 {
		return h, fmt.Errorf("invalid port %q in address %q (want 0..65535)", port, s)
	}
	switch ip, err := netip.ParseAddr(host); {
	case host == "":
		h.wildcard = true
	case err == nil:
		h.host, h.wildcard = ip.String(), ip.IsUnspecified()
	case validHostname(host):
		h.host = strings.ToLower(strings.TrimSuffix(host, "."))
	default:
		return h, fmt.Errorf("invalid host %q in address %q", host, s)
	}
	if u == dialAddr {
		if host == "" {
			return h, fmt.Errorf("missing host in address %q", s)
		}
		if h.port == 0 {
			return h, fmt.Errorf("port 0 in address %q: a fixed port is needed here", s)
		}
	}
	return h, nil
}

// validHostname accepts DNS names made of letters, digits, '-' and '_'
// labels (loosely: resolvers decide the rest).
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// conflicts reports whether two listen addresses would take the same socket.
func (h hostPort) conflicts(o hostPort) bool {
	return h.port != 0 && h.port == o.port && (h.host == o.host || h.wildcard || o.wildcard)
}
