package discover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DNSConfig configures a DNS source (HAProxy's server-template with
// resolvers).
type DNSConfig struct {
	// Name to resolve.
	Name string
	// Type is "A" (every IPv4 address of Name, at Port) or "SRV" (every
	// target of Name's SRV records, resolved to IPv4, at the record's
	// port).
	Type string
	// Port for A records.
	Port int
	// Resolver is the DNS server's host:port; empty uses the system's
	// (/etc/resolv.conf).
	Resolver string
	// Timeout bounds one discovery (default 5s).
	Timeout time.Duration
}

// DNS finds a backend's servers in DNS.
type DNS struct {
	cfg DNSConfig
	r   *net.Resolver
}

var _ Source = (*DNS)(nil)

// NewDNS returns the source.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	cfg.Type = strings.ToUpper(cfg.Type)
	switch {
	case cfg.Name == "":
		return nil, errors.New("dns discovery: a name is required")
	case cfg.Type != "A" && cfg.Type != "SRV":
		return nil, fmt.Errorf("dns discovery: type %q: want A or SRV", cfg.Type)
	case cfg.Type == "A" && (cfg.Port <= 0 || cfg.Port > 65535):
		return nil, fmt.Errorf("dns discovery: port %d is out of range 1..65535", cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	r := &net.Resolver{PreferGo: true}
	if cfg.Resolver != "" {
		server := cfg.Resolver
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}
	}
	return &DNS{cfg: cfg, r: r}, nil
}

// Kind implements Source.
func (s *DNS) Kind() string { return "dns" }

// Describe implements Source.
func (s *DNS) Describe() string {
	d := fmt.Sprintf("dns %s %s", s.cfg.Type, s.cfg.Name)
	if s.cfg.Type == "A" {
		d += ", port " + strconv.Itoa(s.cfg.Port)
	}
	if s.cfg.Resolver != "" {
		d += " at " + s.cfg.Resolver
	}
	return d
}

// Discover implements Source. A name that does not exist, or has no
// record of the type, is an empty answer, not an error: the loop decides
// what an empty answer means.
func (s *DNS) Discover(ctx context.Context) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	type hostPort struct {
		host string
		port int
	}
	var hosts []hostPort
	if s.cfg.Type == "SRV" {
		_, srvs, err := s.r.LookupSRV(ctx, "", "", s.cfg.Name)
		if notFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dns SRV %s: %w", s.cfg.Name, s.resolverErr(err))
		}
		for _, r := range srvs {
			hosts = append(hosts, hostPort{r.Target, int(r.Port)})
		}
	} else {
		hosts = append(hosts, hostPort{s.cfg.Name, s.cfg.Port})
	}
	seen := map[string]bool{}
	var out []Target
	for _, h := range hosts {
		ips, err := s.r.LookupNetIP(ctx, "ip4", h.host)
		if notFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dns A %s: %w", h.host, s.resolverErr(err))
		}
		for _, ip := range ips {
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(h.port))
			addr := ap.String()
			if seen[addr] {
				continue
			}
			seen[addr] = true
			// The name keeps to a server name's characters (letters,
			// digits, '.', '_', '-'), so haraftctl app/NAME reads it.
			name := ap.Addr().String() + "-" + strconv.Itoa(h.port)
			out = append(out, Target{Name: name, Addr: addr, Cookie: dnsCookie(name)})
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// resolverErr makes a lookup error name the configured resolver: the
// resolver's dialer goes there whatever server the error names (the
// system's first).
func (s *DNS) resolverErr(err error) error {
	var de *net.DNSError
	if s.cfg.Resolver != "" && errors.As(err, &de) {
		de.Server = s.cfg.Resolver
	}
	return err
}

// notFound reports an NXDOMAIN or an answer without records.
func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
