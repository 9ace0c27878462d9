package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover"
)

// eipParts are the node's liveness tracker and, with eips configured, its
// EIP controller (acting on the leader) and agent (reporting this node,
// holding its VIPs, fencing itself).
type eipParts struct {
	ctrl  *eipmover.Controller
	agent *eipmover.Agent
	vip   *eipmover.VIP
	guard *eipmover.Guard
}

// EIP returns the EIP controller and agent (nil without eips), for
// status and metrics.
func (d *Daemon) EIP() (*eipmover.Controller, *eipmover.Agent) {
	if d.eip == nil {
		return nil, nil
	}
	return d.eip.ctrl, d.eip.agent
}

// startEIP starts the liveness tracker, then the EIP controller and agent
// when the config lists eips. Call it before the parts that read liveness.
func (d *Daemon) startEIP() error {
	m := d.cfg.EIPMover
	d.liveness = cluster.NewLiveness(d.node, cluster.LivenessConfig{DeadAfter: d.cfg.EIPDeadAfter(), ProbeInterval: d.cfg.EIPProbeInterval(),
		ContactInterval: d.cfg.EIPContactInterval(), Logger: d.log})
	d.eip = &eipParts{}
	if len(d.cfg.EIPs) == 0 {
		return nil
	}
	eips := make([]eipmover.EIP, len(d.cfg.EIPs))
	for i, e := range d.cfg.EIPs {
		eips[i] = eipmover.EIP{ID: e.ID, Address: e.Address, HomeAZ: e.HomeAZ}
	}
	info := eipmover.NodeInfo{AZ: d.cfg.Node.AZ, Standby: d.cfg.Node.Role == config.NodeStandby,
		InstanceID: m.InstanceID, NetworkInterfaceID: m.NetworkInterfaceID, PrivateIPs: m.PrivateIPs}
	ccfg := eipmover.ControllerConfig{Node: d.node, Liveness: d.liveness, EIPs: eips, Policy: eipmover.Policy{AutoFailback: m.AutoFailback},
		ReconcileInterval: m.ReconcileInterval.Duration, Logger: d.log}
	acfg := eipmover.AgentConfig{Node: d.node, Liveness: d.liveness, EIPs: eips, Logger: d.log}
	if d.cfg.EIPMover.ReconcileInterval.Duration == 0 { // a config built in code
		ccfg.ReconcileInterval = 5 * time.Second
	}
	switch m.Kind {
	case config.MoverEC2:
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		defer cancel()
		if info.InstanceID == "" && info.NetworkInterfaceID == "" {
			id, err := eipmover.DiscoverIdentity(ctx, m.IMDSEndpoint)
			if err != nil {
				return fmt.Errorf("%s: eip_mover.instance_id is not set and the instance metadata service did not answer: %w", d.cfg.File, err)
			}
			info.InstanceID = id.InstanceID
			if info.AZ == config.DefaultAZ {
				info.AZ = id.AZ
			}
			d.log.Info("eip: this node is an EC2 instance", "instance_id", id.InstanceID, "az", id.AZ)
		}
		mover, err := eipmover.NewEC2(ctx, eipmover.EC2Config{Region: m.Region, Endpoint: m.Endpoint, IMDSEndpoint: m.IMDSEndpoint, Logger: d.log})
		if err != nil {
			return fmt.Errorf("%s: eip_mover: %w", d.cfg.File, err)
		}
		ccfg.Mover = mover
	case config.MoverVIP:
		vip, err := eipmover.NewVIP(eipmover.VIPConfig{Interface: m.Interface, Logger: d.log})
		if err != nil {
			return fmt.Errorf("%s: eip_mover: %w", d.cfg.File, err)
		}
		d.eip.vip = vip
		ccfg.Policy.NodeLocal = true
		acfg.Local = vip
		if m.FenceOnLostLeader {
			acfg.Lease = m.Lease.Duration
		}
	}
	acfg.Info = info
	ctrl, err := eipmover.NewController(ccfg)
	if err != nil {
		return fmt.Errorf("%s: eips: %w", d.cfg.File, err)
	}
	agent, err := eipmover.NewAgent(acfg)
	if err != nil {
		return fmt.Errorf("%s: eips: %w", d.cfg.File, err)
	}
	d.eip.ctrl, d.eip.agent = ctrl, agent
	if d.eip.vip != nil && acfg.Lease > 0 && eipmover.GuardSupported() {
		// A process outside this one drops the VIPs should this process
		// die or freeze while holding them (see eipmover/guard.go).
		addrs := make([]string, len(eips))
		for i, e := range eips {
			addrs[i] = e.Address
		}
		g, err := eipmover.StartGuard(eipmover.GuardConfig{Interface: m.Interface, Addresses: addrs, Lease: acfg.Lease, OnGap: agent.Recheck, Logger: d.log})
		if err != nil {
			return fmt.Errorf("%s: eip_mover: %w", d.cfg.File, err)
		}
		d.eip.guard = g
	}
	for _, w := range d.cfg.Warnings() {
		d.log.Warn("config: " + w.Error())
	}
	d.wg.Add(2) // the controller is a leader loop (leaderloops.go)
	go func() { defer d.wg.Done(); _ = agent.Run(d.ctx) }()
	go func() {
		defer d.wg.Done()
		select { // the proxy counts as up once the node serves
		case <-d.serving:
			agent.SetProxyUp(true)
		case <-d.ctx.Done():
		}
	}()
	return nil
}

// drainEIPs, at a graceful shutdown, reports this node's proxy down and
// waits (a few dead_after at most) until the leader has moved the EIPs
// this node holds to other nodes, so that a planned stop costs no more
// than a move.
func (d *Daemon) drainEIPs(ctx context.Context) {
	_, agent := d.EIP()
	if agent == nil || d.node == nil {
		return
	}
	holds := func() []string {
		var ids []string
		for _, e := range d.fsm.EIPs() {
			if e.Holder == d.cfg.Node.ID {
				ids = append(ids, e.Id)
			}
		}
		return ids
	}
	if len(holds()) == 0 {
		return
	}
	agent.SetProxyUp(false)
	wait := min(3*d.cfg.EIPDeadAfter(), 10*time.Second)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(holds()) > 0 {
		select {
		case <-ctx.Done():
			d.log.Warn("eip: stopping while still holding EIPs (no other healthy node took them)", "eips", holds())
			return
		case <-tick.C:
		}
	}
	d.log.Info("eip: EIPs moved away before stopping")
}

// stopEIP closes what startEIP opened, once the agent (which drops its
// VIPs on the way out) has stopped.
func (d *Daemon) stopEIP() {
	if d.eip != nil && d.eip.guard != nil {
		d.eip.guard.Close()
	}
	if d.eip != nil && d.eip.vip != nil {
		d.eip.vip.Close()
	}
	if d.liveness != nil {
		d.liveness.Close()
	}
}
