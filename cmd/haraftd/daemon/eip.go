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
	d.liveness = cluster.NewLiveness(d.node, cluster.LivenessConfig{DeadAfter: d.cfg.EIPDeadAfter(), Logger: d.log})
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
	for _, w := range d.cfg.Warnings() {
		d.log.Warn("config: " + w.Error())
	}
	d.wg.Add(3)
	go func() { defer d.wg.Done(); _ = ctrl.Run(d.ctx) }()
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

// stopEIP closes what startEIP opened, once the agent (which drops its
// VIPs on the way out) has stopped.
func (d *Daemon) stopEIP() {
	if d.eip != nil && d.eip.vip != nil {
		d.eip.vip.Close()
	}
	if d.liveness != nil {
		d.liveness.Close()
	}
}
