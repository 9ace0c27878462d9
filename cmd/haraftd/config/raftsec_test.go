package config

import (
	"strings"
	"testing"
)

// A cluster port that others can reach needs raft.tls, or raft.insecure:
// true said in so many words; loopback needs neither.
func TestRaftSecurity(t *testing.T) {
	reachable := func(bind string) string {
		return edit(t, "  bind: 127.0.0.1:7001", "  bind: "+bind, "      addr: 127.0.0.1:7001", "      addr: 10.0.1.10:7001")
	}
	const tlsBlock = "\n  tls: {ca_file: /ca.pem, cert_file: /n1.pem, key_file: /n1-key.pem}"
	for _, tc := range []struct {
		name    string
		yaml    string
		want    []string // errors; nil: valid
		warning string   // a SecurityWarnings prefix; "" for none
	}{
		{"loopback without TLS", base, nil, ""},
		{"localhost without TLS", edit(t, "  bind: 127.0.0.1:7001", "  bind: localhost:7001", "      addr: 127.0.0.1:7001", "      addr: localhost:7001"), nil, ""},
		{"reachable bind without TLS", reachable("10.0.1.10:7001"),
			[]string{`t.yaml:5: raft.tls: required: raft.bind "10.0.1.10:7001" is not a loopback address, and without TLS anyone who reaches it can speak Raft`}, ""},
		{"all interfaces without TLS", reachable("0.0.0.0:7001\n  advertise: 10.0.1.10:7001"),
			[]string{`t.yaml:5: raft.tls: required: raft.bind "0.0.0.0:7001" is not a loopback address`}, ""},
		{"loopback bind, reachable advertise", reachable("127.0.0.1:7001\n  advertise: 10.0.1.10:7001"),
			[]string{`t.yaml:6: raft.tls: required: raft.advertise "10.0.1.10:7001" is not a loopback address`}, ""},
		{"reachable with TLS", reachable("10.0.1.10:7001" + tlsBlock), nil, ""},
		{"reachable, insecure said", reachable("10.0.1.10:7001\n  insecure: true"), nil,
			`t.yaml:6: raft.insecure: the cluster port 10.0.1.10:7001 speaks plain TCP`},
		{"insecure and TLS", reachable("10.0.1.10:7001\n  insecure: true" + tlsBlock),
			[]string{`t.yaml:6: raft.insecure: true contradicts raft.tls`}, ""},
		{"insecure: false is no exemption", reachable("10.0.1.10:7001\n  insecure: false"),
			[]string{`t.yaml:5: raft.tls: required: raft.bind "10.0.1.10:7001"`}, ""},
		{"bad cluster id", edit(t, "  bind: 127.0.0.1:7001", "  bind: 127.0.0.1:7001\n  cluster_id: prod eu"),
			[]string{`t.yaml:6: raft.cluster_id: invalid cluster id "prod eu"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml))
			if tc.want != nil {
				checkErrors(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ws := c.SecurityWarnings()
			switch {
			case tc.warning == "" && len(ws) > 0:
				t.Fatalf("unexpected warnings: %v", ws)
			case tc.warning != "" && (len(ws) != 1 || !strings.HasPrefix(ws[0].Error(), tc.warning)):
				t.Fatalf("warnings %v, want one starting %q", ws, tc.warning)
			}
		})
	}
}

// The default cluster id is the same for every node of one peer set (in
// any order), another for another set, and raft.cluster_id overrides it.
func TestClusterID(t *testing.T) {
	parse := func(s string) *Config {
		t.Helper()
		c, err := Parse("t.yaml", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	n1 := parse(base)
	n2 := parse(edit(t, "  id: n1\n", "  id: n2\n", "  bind: 127.0.0.1:7001", "  bind: 127.0.0.1:7002",
		"    - id: n1\n      addr: 127.0.0.1:7001\n    - id: n2\n      addr: 127.0.0.1:7002",
		"    - id: n2\n      addr: 127.0.0.1:7002\n    - id: n1\n      addr: 127.0.0.1:7001"))
	other := parse(edit(t, "      addr: 127.0.0.1:7002", "      addr: 127.0.0.1:7003"))
	named := parse(edit(t, "  bind: 127.0.0.1:7001", "  bind: 127.0.0.1:7001\n  cluster_id: prod-eu"))
	if n1.ClusterID() == "" || n1.ClusterID() != n2.ClusterID() {
		t.Errorf("two nodes of one peer set: %q, %q", n1.ClusterID(), n2.ClusterID())
	}
	if other.ClusterID() == n1.ClusterID() {
		t.Errorf("another peer set has the same id %q", other.ClusterID())
	}
	if named.ClusterID() != "prod-eu" {
		t.Errorf("raft.cluster_id: %q", named.ClusterID())
	}
}
