package eipmover

import (
	"cmp"
	"fmt"
	"slices"
)

// Policy tunes placement.
type Policy struct {
	// AutoFailback moves an address back to a better node (its home AZ,
	// an active node) once that node is healthy again. Off by default, as
	// Heartbeat's "auto_failback off": a healthy holder keeps its address.
	AutoFailback bool
	// NodeLocal says the nodes hold the addresses themselves (Linux VIPs):
	// a move away from a live holder first releases the address and waits
	// until no live node other than the new holder reports holding it.
	NodeLocal bool
}

// Candidate is one node as placement sees it.
type Candidate struct {
	ID      string
	AZ      string
	Standby bool
	// Alive: the leader has heard from the node within DeadAfter.
	Alive bool
	// Unconfirmed: alive only by the benefit of the doubt a new leader
	// gives every node; such a node keeps what it holds but gets nothing
	// new until the leader hears from it.
	Unconfirmed bool
	// ProxyUp: the node's own proxy is healthy (or has not said).
	ProxyUp bool
	// Reachable: the mover can target the node (EC2: its instance or
	// interface id is known). Always true when no cloud mover is used.
	Reachable bool
	// Holding lists the node-local addresses the node reports serving.
	Holding []string
	// Capacity is how many addresses the node can hold (EC2: one per
	// private address); 0 is unlimited.
	Capacity int
}

// healthy: the node can serve an address now.
func (c *Candidate) healthy() bool { return c.Alive && c.ProxyUp && c.Reachable }

// Current is an address's committed placement.
type Current struct {
	Holder string
	Pinned bool
}

// Decision is what placement wants for one address.
type Decision struct {
	EIP    EIP
	From   string // the committed holder
	Holder string // the holder to commit; "" releases the address
	Reason string
	// Commit: Holder differs from the committed holder and should be
	// committed now. (The controller also commits when the configured
	// address or home AZ differ from the committed record.)
	Commit bool
	// Waiting, when set, says why a wanted move is not committed yet.
	Waiting string
}

// tiers of preference, lower is better; -1 is not eligible.
const (
	tierHomeActive = iota
	tierHomeStandby
	tierAwayActive
	tierAwayStandby
)

func tier(e EIP, c *Candidate) int {
	if c == nil || !c.healthy() {
		return -1
	}
	t := tierHomeActive
	if c.AZ != e.HomeAZ {
		t = tierAwayActive
	}
	if c.Standby {
		t++
	}
	return t
}

var tierNames = []string{"active node in the home AZ", "standby in the home AZ", "active node in another AZ", "standby in another AZ"}

// Place computes the wanted holder of every configured address from the
// committed placements and the nodes. It is a pure function of its
// arguments: every leader computes the same decisions from the same
// state. Addresses are decided in id order; a node at its Capacity takes
// no more; among equally good nodes the one holding the fewest addresses
// wins, then the smallest id.
func Place(eips []EIP, current map[string]Current, nodes []Candidate, p Policy) []Decision {
	byID := make(map[string]*Candidate, len(nodes))
	sorted := make([]*Candidate, 0, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
		sorted = append(sorted, &nodes[i])
	}
	slices.SortFunc(sorted, func(a, b *Candidate) int { return cmp.Compare(a.ID, b.ID) })
	order := slices.Clone(eips)
	slices.SortFunc(order, func(a, b EIP) int { return cmp.Compare(a.ID, b.ID) })

	load := map[string]int{}
	for _, e := range order {
		if h := current[e.ID].Holder; h != "" {
			load[h]++
		}
	}
	best := func(e EIP) *Candidate {
		var b *Candidate
		for _, c := range sorted {
			t := tier(e, c)
			if t < 0 || c.Unconfirmed || c.Capacity > 0 && load[c.ID] >= c.Capacity {
				continue
			}
			if b == nil {
				b = c
				continue
			}
			bt := tier(e, b)
			if t < bt || t == bt && load[c.ID] < load[b.ID] {
				b = c
			}
		}
		return b
	}

	out := make([]Decision, 0, len(order))
	for _, e := range order {
		cur := current[e.ID]
		d := Decision{EIP: e, From: cur.Holder, Holder: cur.Holder}
		holder := byID[cur.Holder]
		b := best(e)
		move := func(reason string) {
			if b == nil {
				d.Reason = reason + "; no healthy node to move to"
				return
			}
			d.Holder, d.Reason = b.ID, fmt.Sprintf("%s; chose %s (%s)", reason, b.ID, tierNames[tier(e, b)])
		}
		switch {
		case cur.Holder == "":
			move("unassigned")
		case holder == nil:
			move(fmt.Sprintf("holder %s is not a known node", cur.Holder))
		case cur.Pinned && holder.Alive:
			d.Reason = "pinned"
		case cur.Pinned:
			move(fmt.Sprintf("pinned holder %s is dead", cur.Holder))
		case holder.healthy():
			d.Reason = "holder healthy"
			if p.AutoFailback && b != nil && tier(e, b) < tier(e, holder) {
				d.Holder, d.Reason = b.ID, fmt.Sprintf("failback to %s (%s)", b.ID, tierNames[tier(e, b)])
			}
		case !holder.Alive:
			move(fmt.Sprintf("holder %s is dead", cur.Holder))
		case !holder.ProxyUp:
			move(fmt.Sprintf("holder %s reports its proxy down", cur.Holder))
		default:
			move(fmt.Sprintf("holder %s cannot be targeted by the mover", cur.Holder))
		}
		if d.Holder != cur.Holder && p.NodeLocal {
			d = handover(d, holder, sorted)
		}
		if d.Holder != cur.Holder {
			d.Commit = true
			load[cur.Holder]--
			load[d.Holder]++
		}
		out = append(out, d)
	}
	return out
}

// handover makes a node-local move safe: a live old holder releases first,
// and the new holder is committed only once no live node other than it
// reports holding the address.
func handover(d Decision, old *Candidate, nodes []*Candidate) Decision {
	if old != nil && old.Alive && d.From != "" {
		d.Reason = fmt.Sprintf("release from %s before moving (%s)", d.From, d.Reason)
		d.Holder = ""
		return d
	}
	for _, c := range nodes {
		if c.ID != d.Holder && c.Alive && slices.Contains(c.Holding, d.EIP.ID) {
			d.Waiting = fmt.Sprintf("%s still reports holding it (%s)", c.ID, d.Reason)
			d.Holder = d.From
			return d
		}
	}
	return d
}
