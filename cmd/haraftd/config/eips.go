package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EIP is one address the cluster keeps on a healthy node: an Elastic IP
// (id is its allocation id) or a Linux VIP (id names it).
type EIP struct {
	ID      string `yaml:"id"`      // required, unique: eipalloc-… for EC2
	Address string `yaml:"address"` // required IP address, unique
	HomeAZ  string `yaml:"home_az"` // required: the AZ whose nodes hold it first
}

// EIPMover says how addresses move: through the EC2 API, as Linux VIPs
// each node adds to its own interface, or not at all (placement recorded
// only).
type EIPMover struct {
	Kind string `yaml:"kind"` // ec2 | vip | none (default)

	// ec2
	Region             string   `yaml:"region"`                // default: the SDK's chain (AWS_REGION, shared config, IMDS)
	Endpoint           string   `yaml:"endpoint"`              // EC2 endpoint URL override (the emulator)
	InstanceID         string   `yaml:"instance_id"`           // this node's instance; default from IMDSv2
	NetworkInterfaceID string   `yaml:"network_interface_id"`  // associate with this ENI instead of the instance
	PrivateIPs         []string `yaml:"private_ips,omitempty"` // private addresses EIPs may go to (one EIP each); default the primary
	IMDSEndpoint       string   `yaml:"imds_endpoint"`         // IMDS URL override (the emulator)

	// vip
	Interface string `yaml:"interface"` // required with kind vip: the link the VIPs go on

	AutoFailback      bool     `yaml:"auto_failback"`        // default false (Heartbeat's auto_failback off)
	FenceOnLostLeader bool     `yaml:"fence_on_lost_leader"` // default true: drop VIPs after lease without a leader
	Lease             Duration `yaml:"lease"`                // default 2s
	DeadAfter         Duration `yaml:"dead_after"`           // default: lease + 2.5 × raft.leader_lease_timeout (vip), raft.election_timeout (ec2, none)
	ReconcileInterval Duration `yaml:"reconcile_interval"`   // default 5s
}

// Values of the EIP enums.
const (
	MoverEC2  = "ec2"
	MoverVIP  = "vip"
	MoverNone = "none"

	NodeActive  = "active"
	NodeStandby = "standby"
)

var (
	moverKinds = []string{MoverEC2, MoverVIP, MoverNone}
	nodeRoles  = []string{NodeActive, NodeStandby}
)

func defaultEIPMover() EIPMover {
	return EIPMover{Kind: MoverNone, FenceOnLostLeader: true, Lease: Duration{2 * time.Second},
		ReconcileInterval: Duration{5 * time.Second}}
}

// applyEIPDefaults fills, in a config built in code, the mover's zero
// values that are not legal (FenceOnLostLeader's false is legal: set it).
func (c *Config) applyEIPDefaults() {
	d := defaultEIPMover()
	setStr(&c.Node.Role, NodeActive)
	setStr(&c.EIPMover.Kind, d.Kind)
	if c.EIPMover.Lease.Duration == 0 {
		c.EIPMover.Lease = d.Lease
	}
	if c.EIPMover.ReconcileInterval.Duration == 0 {
		c.EIPMover.ReconcileInterval = d.ReconcileInterval
	}
}

// deriveDeadAfter sets eip_mover.dead_after when it was left out.
func (c *Config) deriveDeadAfter() {
	if c.EIPMover.DeadAfter.Duration == 0 {
		c.EIPMover.DeadAfter = Duration{c.EIPDeadAfter()}
	}
}

// EIPDeadAfter returns eip_mover.dead_after, or its default when it is
// zero (configs built in code): for fenced VIPs the safety floor (lease +
// 2 × raft.leader_lease_timeout) plus half a leader lease of margin, else
// raft.election_timeout.
//
// The floor: a holder cut off from the majority drops its VIPs once it
// has had no leader contact for lease; when it was the leader itself, its
// leader contact lasts until Raft steps it down, at most about one
// leader_lease_timeout (two counted) after its last contact with a
// quorum. The margin covers the leader's view of a peer being up to one
// liveness probe interval (EIPProbeInterval, at most half a leader lease)
// older than the peer's own view of the leader.
func (c *Config) EIPDeadAfter() time.Duration {
	m := &c.EIPMover
	switch {
	case m.DeadAfter.Duration != 0:
		return m.DeadAfter.Duration
	case m.Kind == MoverVIP && m.FenceOnLostLeader:
		return m.Lease.Duration + 2*c.Raft.LeaderLeaseTimeout.Duration + c.Raft.LeaderLeaseTimeout.Duration/2
	}
	return c.Raft.ElectionTimeout.Duration
}

// EIPProbeInterval is how often the leader probes each peer's liveness:
// half a leader lease (the margin EIPDeadAfter leaves for it), a tenth of
// dead_after at most, between 10 ms and 100 ms.
func (c *Config) EIPProbeInterval() time.Duration {
	return max(min(c.Raft.LeaderLeaseTimeout.Duration/2, c.EIPDeadAfter()/10, 100*time.Millisecond), 10*time.Millisecond)
}

// EIPContactInterval is how often every node pings every peer for the
// contact reports that let a VIP holder keep its addresses through an
// election (cluster/contacts.go): a tenth of the fencing lease, at least
// 5 ms, at most the probe interval.
func (c *Config) EIPContactInterval() time.Duration {
	if c.EIPMover.Kind == MoverVIP && c.EIPMover.FenceOnLostLeader && c.EIPMover.Lease.Duration > 0 {
		return min(max(c.EIPMover.Lease.Duration/10, 5*time.Millisecond), c.EIPProbeInterval())
	}
	return c.EIPProbeInterval()
}

// eips validates the eips list and the mover.
func (v *validator) eips(c *Config) {
	known := c.knownAZs()
	allKnown := c.peerAZsKnown()
	ids, addrs := map[string]int{}, map[netip.Addr]int{}
	for i, e := range c.EIPs {
		path := fmt.Sprintf("eips[%d]", i)
		if v.required(path+".id", e.ID) {
			if j, dup := ids[e.ID]; dup {
				v.errf(path+".id", "duplicate EIP id %q (also eips[%d])", e.ID, j)
			} else {
				ids[e.ID] = i
			}
		}
		if v.required(path+".address", e.Address) {
			if a, err := netip.ParseAddr(e.Address); err != nil {
				v.errf(path+".address", "invalid IP address %q", e.Address)
			} else if j, dup := addrs[a.Unmap()]; dup {
				v.errf(path+".address", "duplicate address %s (also eips[%d])", e.Address, j)
			} else {
				addrs[a.Unmap()] = i
			}
		}
		if v.required(path+".home_az", e.HomeAZ) && allKnown && !slices.Contains(known, e.HomeAZ) {
			v.errf(path+".home_az", "no node is in AZ %q (nodes are in: %s)", e.HomeAZ, strings.Join(known, ", "))
		}
	}
	if c.Node.Role != "" { // empty in configs built in code: active
		v.enum("node.role", c.Node.Role, nodeRoles)
	}
	m := &c.EIPMover
	if m.Kind != "" || len(c.EIPs) > 0 { // empty in configs built in code: none
		v.enum("eip_mover.kind", m.Kind, moverKinds)
	}
	for _, f := range []struct{ path, val string }{{"eip_mover.endpoint", m.Endpoint}, {"eip_mover.imds_endpoint", m.IMDSEndpoint}} {
		if f.val == "" {
			continue
		}
		if u, err := url.Parse(f.val); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf(f.path, "invalid URL %q: want http(s)://host[:port]", f.val)
		}
	}
	for i, ip := range m.PrivateIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			v.errf(fmt.Sprintf("eip_mover.private_ips[%d]", i), "invalid IP address %q", ip)
		}
	}
	if m.Kind == MoverVIP {
		v.required("eip_mover.interface", m.Interface)
	}
	if len(c.EIPs) > 0 {
		v.positive("eip_mover.reconcile_interval", m.ReconcileInterval)
		if m.Kind == MoverVIP && m.FenceOnLostLeader {
			v.positive("eip_mover.lease", m.Lease)
		}
	}
	if m.DeadAfter.Duration < 0 {
		v.errf("eip_mover.dead_after", "must be greater than 0")
	}
	// A VIP holder cut off from the leader fences itself after lease; a
	// leader (up to two raft.leader_lease_timeout late to notice it lost
	// its quorum) must not hand the VIP on before.
	if m.Kind == MoverVIP && m.FenceOnLostLeader && m.Lease.Duration > 0 {
		if floor := m.Lease.Duration + 2*c.Raft.LeaderLeaseTimeout.Duration; c.EIPDeadAfter() <= floor {
			v.errf("eip_mover.dead_after", "%s must exceed lease + 2 × raft.leader_lease_timeout (%s), or a VIP could be handed on before its holder fenced itself",
				m.DeadAfter, Duration{floor})
		}
	}
}

// knownAZs lists this node's AZ and the AZs set on peers, sorted.
func (c *Config) knownAZs() []string {
	azs := []string{c.Node.AZ}
	for _, p := range c.Raft.Peers {
		if p.AZ != "" && !slices.Contains(azs, p.AZ) {
			azs = append(azs, p.AZ)
		}
	}
	slices.Sort(azs)
	return azs
}

// peerAZsKnown reports whether every peer other than this node has an az.
func (c *Config) peerAZsKnown() bool {
	for _, p := range c.Raft.Peers {
		if p.ID != c.Node.ID && p.AZ == "" {
			return false
		}
	}
	return true
}

// Warnings lists what is legal but probably wrong, in the format of
// Errors: today, an EIP whose home AZ is neither this node's nor any
// peer's while some peers' AZs are not given (raft.peers[].az).
func (c *Config) Warnings() Errors {
	v := &validator{file: c.File, lines: c.lines}
	if v.file == "" {
		v.file = DevFile
	}
	if c.peerAZsKnown() {
		return nil
	}
	known := c.knownAZs()
	for i, e := range c.EIPs {
		if e.HomeAZ != "" && !slices.Contains(known, e.HomeAZ) {
			v.errf(fmt.Sprintf("eips[%d].home_az", i), "no node known to be in AZ %q (this node is in %q; set raft.peers[].az to check)", e.HomeAZ, c.Node.AZ)
		}
	}
	v.errs.sortByLine()
	return v.errs
}
