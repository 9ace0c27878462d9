package daemon

import (
	"github.com/haraft/haraft/cluster/leader"
	"github.com/haraft/haraft/eipmover/discover"
	"github.com/haraft/haraft/proxy"
)

// leaderLoops lists the loops only the leader runs. They all start when
// this node becomes the leader and are all cancelled when it stops being
// the leader (package cluster/leader). To add one, write it as a
// leader.Loop in the package that owns its concept and add one line here.
func (d *Daemon) leaderLoops() []leader.Loop {
	loops := []leader.Loop{
		proxy.NewHealthAgreement(proxy.AgreementOptions{Backends: d.backends, State: d.fsm, Cluster: d.node, Logger: d.log}),
		proxy.NewSessionExpiry(d.node, d.backends, d.log),
		discover.NewGroup(d.discoveryLoops), // servers_from (eipmover/discover)
	}
	if d.eip.ctrl != nil {
		loops = append(loops, d.eip.ctrl) // EIP placement (eipmover/controller.go)
	}
	if d.dns != nil {
		loops = append(loops, d.dns) // the Route 53 record (eipmover/dns.go)
	}
	return loops
}

// backends returns the running backends, in config order.
func (d *Daemon) backends() []*proxy.Backend { return d.live().orderedBackends() }

// startLeaderLoops runs the leader loops on this node's leaderships until
// the daemon stops.
func (d *Daemon) startLeaderLoops() {
	d.leader = leader.NewRunner(d.node, d.log)
	d.leader.Add(d.leaderLoops()...)
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.leader.Run(d.ctx) }()
}

// LeaderLoops returns the leader loops' states, for status pages.
func (d *Daemon) LeaderLoops() []leader.LoopStatus {
	if d.leader == nil {
		return nil
	}
	return d.leader.Status()
}
