package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// eipBase is base plus two EIPs of this node's AZ and an EC2 mover; its
// appended lines start at 25.
const eipBase = base + `eips:
  - id: eipalloc-0web
    address: 198.51.100.7
    home_az: default
  - {id: eipalloc-0api, address: 198.51.100.8, home_az: default}
eip_mover:
  kind: ec2
  region: us-east-1
  endpoint: http://127.0.0.1:4566
  private_ips: [10.0.1.10, 10.0.1.11]
`

func TestEIPsParse(t *testing.T) {
	c, err := Parse("t.yaml", []byte(eipBase))
	if err != nil {
		t.Fatal(err)
	}
	want := []EIP{{ID: "eipalloc-0web", Address: "198.51.100.7", HomeAZ: "default"}, {ID: "eipalloc-0api", Address: "198.51.100.8", HomeAZ: "default"}}
	if !reflect.DeepEqual(c.EIPs, want) {
		t.Errorf("eips %+v", c.EIPs)
	}
	m := c.EIPMover
	if m.Kind != MoverEC2 || m.Region != "us-east-1" || len(m.PrivateIPs) != 2 || m.AutoFailback || !m.FenceOnLostLeader ||
		m.Lease.Duration != 2*time.Second || m.DeadAfter != c.Raft.ElectionTimeout || m.ReconcileInterval.Duration != 5*time.Second {
		t.Errorf("eip_mover %+v", m)
	}
	if c.Node.Role != NodeActive {
		t.Errorf("role %q", c.Node.Role)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}

	// A VIP mover derives dead_after from its lease: 1s + 2.5 × 1s (the
	// default leader_lease_timeout).
	c, err = Parse("t.yaml", []byte(strings.Replace(eipBase, "  kind: ec2\n", "  kind: vip\n  interface: eth0\n  lease: 1s\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.EIPMover.DeadAfter.Duration != 3500*time.Millisecond {
		t.Errorf("vip dead_after %v", c.EIPMover.DeadAfter)
	}
}

func TestEIPErrors(t *testing.T) {
	eipEdit := func(pairs ...string) func(t *testing.T) string {
		return func(t *testing.T) string {
			s := eipBase
			for i := 0; i+1 < len(pairs); i += 2 {
				if !strings.Contains(s, pairs[i]) {
					t.Fatalf("eipBase has no %q", pairs[i])
				}
				s = strings.Replace(s, pairs[i], pairs[i+1], 1)
			}
			return s
		}
	}
	for _, tc := range []struct {
		name string
		yaml func(t *testing.T) string
		want []string
	}{
		{"duplicate id", eipEdit("{id: eipalloc-0api", "{id: eipalloc-0web"),
			[]string{`t.yaml:29: eips[1].id: duplicate EIP id "eipalloc-0web" (also eips[0])`}},
		{"duplicate and bad addresses", eipEdit("address: 198.51.100.8", "address: 198.51.100.7", "    address: 198.51.100.7\n", "    address: 198.51.100.300\n"),
			[]string{`t.yaml:27: eips[0].address: invalid IP address "198.51.100.300"`}},
		{"same address twice", eipEdit("address: 198.51.100.8", "address: 198.51.100.7"),
			[]string{`t.yaml:29: eips[1].address: duplicate address 198.51.100.7 (also eips[0])`}},
		{"missing fields", eipEdit("{id: eipalloc-0api, address: 198.51.100.8, home_az: default}", "{id: eipalloc-0api}"),
			[]string{`t.yaml:29: eips[1].address: required`, `t.yaml:29: eips[1].home_az: required`}},
		{"unknown kind", eipEdit("  kind: ec2", "  kind: keepalived"),
			[]string{`t.yaml:31: eip_mover.kind: invalid value "keepalived" (allowed: ec2, vip, none)`}},
		{"vip without interface", eipEdit("  kind: ec2", "  kind: vip"),
			[]string{`t.yaml:30: eip_mover.interface: required`}},
		{"vip dead_after within the lease", eipEdit("  kind: ec2", "  kind: vip\n  interface: eth0\n  lease: 2s\n  dead_after: 3500ms"),
			[]string{`t.yaml:34: eip_mover.dead_after: 3.5s must exceed lease + 2 × raft.leader_lease_timeout (4s)`}},
		{"bad endpoint", eipEdit("http://127.0.0.1:4566", "127.0.0.1:4566"),
			[]string{`t.yaml:33: eip_mover.endpoint: invalid URL "127.0.0.1:4566"`}},
		{"bad private ip", eipEdit("[10.0.1.10, 10.0.1.11]", "[10.0.1.10, ten]"),
			[]string{`t.yaml:34: eip_mover.private_ips[1]: invalid IP address "ten"`}},
		{"bad role", eipEdit("  id: n1\n", "  id: n1\n  role: backup\n"),
			[]string{`t.yaml:3: node.role: invalid value "backup" (allowed: active, standby)`}},
		{"home AZ with no node, peers' AZs known", eipEdit("      addr: 127.0.0.1:7002\n", "      addr: 127.0.0.1:7002\n      az: b\n", "home_az: default}", "home_az: c}"),
			[]string{`t.yaml:30: eips[1].home_az: no node is in AZ "c" (nodes are in: b, default)`}},
		{"unknown field", eipEdit("  region: us-east-1", "  regoin: us-east-1"),
			[]string{`t.yaml:32: eip_mover.regoin: unknown field (known: kind, region, endpoint, instance_id, network_interface_id, private_ips, imds_endpoint, interface, auto_failback, fence_on_lost_leader, lease, dead_after, reconcile_interval)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.yaml(t)))
			if c != nil {
				t.Errorf("config returned along with errors")
			}
			checkErrors(t, err, tc.want)
		})
	}
}

// With some peers' AZs unknown, a home AZ no known node is in is only a
// warning.
func TestEIPHomeAZWarning(t *testing.T) {
	c, err := Parse("t.yaml", []byte(strings.Replace(eipBase, "home_az: default}", "home_az: us-east-1c}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Warnings()
	if len(w) != 1 || w[0].Error() != `t.yaml:29: eips[1].home_az: no node known to be in AZ "us-east-1c" (this node is in "default"; set raft.peers[].az to check)` {
		t.Fatalf("warnings: %v", w)
	}
}
