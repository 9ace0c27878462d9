package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// The PROXY protocol settings: frontends[].accept_proxy(_from) and
// backends[].servers[].send_proxy.

// SendProxy versions.
var sendProxyVersions = []string{"v1", "v2"}

// SendProxyVersion returns the PROXY protocol version of a server's
// send_proxy (0: none). The value is validated.
func (s *Server) SendProxyVersion() int {
	switch s.SendProxy {
	case "v1":
		return 1
	case "v2":
		return 2
	}
	return 0
}

// AcceptProxyPrefixes returns accept_proxy_from as prefixes (a plain
// address is a /32 or /128). The values are validated.
func (f *Frontend) AcceptProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range f.AcceptProxyFrom {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func (v *validator) acceptProxy(path string, f *Frontend) {
	if len(f.AcceptProxyFrom) > 0 && !f.AcceptProxy {
		v.errf(path+".accept_proxy_from", "needs accept_proxy: true")
	}
	for j, s := range f.AcceptProxyFrom {
		if _, err := parsePrefix(s); err != nil {
			v.errf(fmt.Sprintf("%s.accept_proxy_from[%d]", path, j), "%q is not an address or CIDR (e.g. 10.0.0.0/8)", s)
		}
	}
}

func (v *validator) sendProxy(path string, b *Backend) {
	for j, s := range b.Servers {
		if s.SendProxy == "" {
			continue
		}
		p := fmt.Sprintf("%s.servers[%d].send_proxy", path, j)
		v.enum(p, s.SendProxy, sendProxyVersions)
		if b.Mode != ModeTCP {
			v.errf(p, "only with mode tcp (HTTP server connections are shared by many clients)")
		}
	}
}
