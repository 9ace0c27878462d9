package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestProxyProtocol: frontends[].accept_proxy(_from) and
// servers[].send_proxy.
func TestProxyProtocol(t *testing.T) {
	tcp := func(front, server string) string {
		return strings.Replace(strings.Replace(strings.Replace(base, "    backend: app", "    backend: app\n    mode: tcp"+front, 1),
			"    cookie: {name: JSESSIONID, mode: learn}", "    mode: tcp", 1),
			"        addr: 127.0.0.1:9001", "        addr: 127.0.0.1:9001"+server, 1)
	}
	for _, tc := range []struct {
		name     string
		yaml     string
		from     []netip.Prefix
		send     int
		want     []string
		noAccept bool
	}{
		{name: "tcp both", yaml: tcp("\n    accept_proxy: true", "\n        send_proxy: v2"), send: 2},
		{name: "from", yaml: tcp("\n    accept_proxy: true\n    accept_proxy_from: [10.0.0.0/8, 192.0.2.7, 2001:db8::/32]", "\n        send_proxy: v1"),
			from: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}, send: 1},
		{name: "http accept", yaml: strings.Replace(base, "    backend: app", "    backend: app\n    accept_proxy: true", 1)},
		{name: "bad version", yaml: tcp("", "\n        send_proxy: v3"), noAccept: true,
			want: []string{`t.yaml:24: backends[0].servers[0].send_proxy: invalid value "v3" (allowed: v1, v2)`}},
		{name: "http send", yaml: strings.Replace(base, "        addr: 127.0.0.1:9001", "        addr: 127.0.0.1:9001\n        send_proxy: v2", 1), noAccept: true,
			want: []string{`t.yaml:23: backends[0].servers[0].send_proxy: only with mode tcp (HTTP server connections are shared by many clients)`}},
		{name: "from without accept", yaml: tcp("\n    accept_proxy_from: [10.0.0.0/8]", ""), noAccept: true,
			want: []string{`t.yaml:18: frontends[0].accept_proxy_from: needs accept_proxy: true`}},
		{name: "bad cidr", yaml: tcp("\n    accept_proxy: true\n    accept_proxy_from: [10.0.0.0/33]", ""),
			want: []string{`t.yaml:19: frontends[0].accept_proxy_from[0]: "10.0.0.0/33" is not an address or CIDR (e.g. 10.0.0.0/8)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				f := c.Frontends[0]
				if !f.AcceptProxy || !slices.Equal(f.AcceptProxyPrefixes(), tc.from) {
					t.Fatalf("accept_proxy %v from %v, want true from %v", f.AcceptProxy, f.AcceptProxyPrefixes(), tc.from)
				}
				if got := c.Backends[0].Servers[0].SendProxyVersion(); got != tc.send {
					t.Fatalf("send_proxy %d, want %d", got, tc.send)
				}
				return
			}
			if err == nil || err.Error() != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%v\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}
