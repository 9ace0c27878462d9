package cluster

// Peer contacts: every node pings every peer, whatever its role, and each
// answer reports when the responder last had contact with every other
// node. This is what lets a VIP holder that is not the leader keep its
// addresses through the leader's death, yet never let two nodes hold one:
//
//   - A holder H that has lost its leader for its lease may keep its
//     addresses (HoldExtended) while it has had contact with a majority
//     (itself included) within the lease, and none of them reports a
//     leader that H does not hear from. Only its own pings count, and an
//     answer counts only once it is Fresh old.
//   - A leader L counts H dead only when neither L nor any peer whose
//     report L received from a ping sent within Fresh had contact with H
//     within DeadAfter, and only when those fresh reporters and L make a
//     majority (Liveness.expireLocked).
//
// Why that is safe: if H holds at time T, a majority M had H's ping, each
// answered at or before T-Fresh, sent after T-lease. If L counts H dead
// at T, a majority R of fresh reporters (L included) saw no contact with
// H within DeadAfter. M and R share a node X other than H (H is never a
// reporter: a report from H is contact with H). X received H's ping
// before T-Fresh, so its report, made after T-Fresh, carries a contact
// after T-lease, younger than DeadAfter > lease: a contradiction.
//
// A contact is "holdable" only while the node may hold addresses (its
// agent is not fenced, or has not dropped them yet): once H fences, its
// pings stop refreshing the others' contact, and L can count it dead and
// move its addresses even when H is still reachable through others.
//
// Times are each node's own monotonic clock; a peer's report is an age,
// turned into this node's time from the arrival of the answer (which is
// after the report was made: the contact looks younger, the safe side).

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/haraft/haraft/proto/clusterpb"
)

// answerHistory is how many answered pings per peer are kept: enough to
// find one that is Fresh old when pings go out every Fresh/3.
const answerHistory = 8

// pingAnswer is one of this node's pings that a peer answered.
type pingAnswer struct {
	sent, answered time.Time
	holdable       bool      // this node was holdable when it sent the ping
	leaderAt       time.Time // the peer's last leader contact, in this node's time; zero: none
}

// peerReport is the latest report a peer's answer carried.
type peerReport struct {
	sent     time.Time            // when the ping it answered was sent
	contacts map[string]time.Time // node -> the peer's last holdable contact with it, in this node's time
}

type peerContact struct {
	addr    string
	voter   bool
	heard   time.Time // last holdable contact: its ping arrived, or its holdable answer did
	answers [answerHistory]pingAnswer
	next    int // ring index of the next answer
	report  peerReport
	probes  int // contact pings in flight
	missed  int // pings in a row that timed out
}

// peerContacts runs the contact pings and keeps what they learn.
type peerContacts struct {
	n        *Node
	interval time.Duration
	fresh    time.Duration
	// leaderContact is this node's last contact with a leader
	// (Liveness.LeaderContact); conn gives the connection to a peer.
	leaderContact func() time.Time
	conn          func(addr string) (*grpc.ClientConn, error)
	dropConn      func(addr string, c *grpc.ClientConn)
	// onContact, when set, is told of every holdable ping this node
	// received from a peer and every answer it got (Liveness.contact: on
	// the leader, the peer is alive).
	onContact func(id string, at time.Time)
	holdable  atomic.Bool

	mu     sync.Mutex
	peers  map[string]*peerContact
	voters int // voters in the configuration, this node included
}

func newPeerContacts(n *Node, interval time.Duration, leaderContact func() time.Time,
	conn func(string) (*grpc.ClientConn, error), dropConn func(string, *grpc.ClientConn)) *peerContacts {
	c := &peerContacts{n: n, interval: interval, fresh: 3 * interval, leaderContact: leaderContact, conn: conn, dropConn: dropConn,
		peers: map[string]*peerContact{}, voters: 1}
	c.holdable.Store(true)
	return c
}

// run pings every peer every interval until done is closed.
func (c *peerContacts) run(done <-chan struct{}) {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if c.n.raft.State() == raft.Shutdown {
			// Not a member any more (shut down or killed): say nothing
			// that would keep it alive in the others' reports.
			select {
			case <-done:
				return
			case <-tick.C:
				continue
			}
		}
		c.refresh()
		c.mu.Lock()
		maxInFlight := int(c.timeout()/c.interval) + 1
		targets := map[string]string{}
		for id, p := range c.peers {
			if p.probes < maxInFlight {
				p.probes++
				targets[id] = p.addr
			}
		}
		c.mu.Unlock()
		for id, addr := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.ping(id, addr, c.n.raft.CurrentTerm(), c.timeout())
				c.mu.Lock()
				if p, ok := c.peers[id]; ok && p.probes > 0 {
					p.probes--
				}
				c.mu.Unlock()
			}()
		}
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

func (c *peerContacts) timeout() time.Duration { return max(c.fresh, 20*time.Millisecond) }

// refresh follows the Raft configuration.
func (c *peerContacts) refresh() {
	f := c.n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	voters := 0
	for _, s := range f.Configuration().Servers {
		voter := s.Suffrage == raft.Voter
		if voter {
			voters++
		}
		id := string(s.ID)
		if id == c.n.ID() {
			continue
		}
		seen[id] = true
		p, ok := c.peers[id]
		if !ok {
			p = &peerContact{}
			c.peers[id] = p
		}
		p.addr, p.voter = string(s.Address), voter
	}
	for id := range c.peers {
		if !seen[id] {
			delete(c.peers, id)
		}
	}
	c.voters = max(voters, 1)
}

// ping sends one ping (a contact ping, or the leader's liveness probe in
// term) to a peer, records the answer and tells onContact; it reports
// whether the peer answered within timeout.
func (c *peerContacts) ping(id, addr string, term uint64, timeout time.Duration) bool {
	conn, err := c.conn(addr)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	holdable := c.holdable.Load()
	sent := time.Now()
	resp, err := clusterpb.NewInternalClient(conn).Ping(ctx, &clusterpb.PingRequest{FromNode: c.n.ID(), Term: term, Holdable: holdable}, grpc.WaitForReady(true))
	if err != nil {
		c.missedPing(id, addr, conn)
		return false
	}
	c.answered(id, sent, holdable, resp)
	if c.onContact != nil {
		c.onContact(id, time.Now())
	}
	return true
}

// missedPing counts a ping that got no answer; after three in a row the
// connection is dropped and the next ping dials afresh (see dropConn).
func (c *peerContacts) missedPing(id, addr string, conn *grpc.ClientConn) {
	c.mu.Lock()
	p, ok := c.peers[id]
	drop := false
	if ok {
		p.missed++
		if p.missed >= 3 {
			p.missed, drop = 0, true
		}
	}
	c.mu.Unlock()
	if drop && c.dropConn != nil {
		c.dropConn(addr, conn)
	}
}

// answered records a peer's answer to a ping sent at sent.
func (c *peerContacts) answered(id string, sent time.Time, holdable bool, resp *clusterpb.PingResponse) {
	now := time.Now()
	a := pingAnswer{sent: sent, answered: now, holdable: holdable}
	if resp.LeaderContactAgeMs >= 0 {
		a.leaderAt = now.Add(-time.Duration(resp.LeaderContactAgeMs) * time.Millisecond)
	}
	contacts := make(map[string]time.Time, len(resp.Contacts))
	for _, pc := range resp.Contacts {
		if pc.AgeMs >= 0 {
			contacts[pc.NodeId] = now.Add(-time.Duration(pc.AgeMs) * time.Millisecond)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.peers[id]
	if !ok {
		return
	}
	p.missed = 0
	if resp.Holdable && now.After(p.heard) {
		p.heard = now
	}
	p.answers[p.next] = a
	p.next = (p.next + 1) % answerHistory
	if sent.After(p.report.sent) {
		p.report = peerReport{sent: sent, contacts: contacts}
	}
}

// received records a peer's ping and fills in the answer's report.
func (c *peerContacts) received(req *clusterpb.PingRequest, resp *clusterpb.PingResponse) {
	// Only while Raft knows a leader: a vote granted in an election also
	// counts as contact in Raft's LastContact, and must not read as a
	// leader alive elsewhere.
	var leaderAt time.Time
	if id, _ := c.n.Leader(); id != "" {
		leaderAt = c.leaderContact()
	}
	now := time.Now()
	if c.onContact != nil && req.Holdable {
		// Not from a fenced node: a node that can send but not receive
		// (cut off from the leader one way) fences, and must then be
		// counted dead for its addresses to move.
		c.onContact(req.FromNode, now)
	}
	resp.Holdable = c.holdable.Load()
	resp.LeaderContactAgeMs = -1
	if !leaderAt.IsZero() {
		resp.LeaderContactAgeMs = max(now.Sub(leaderAt).Milliseconds(), 0)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.peers[req.FromNode]; ok && req.Holdable && now.After(p.heard) {
		p.heard = now
	}
	for id, p := range c.peers {
		if !p.heard.IsZero() {
			// Rounded up: the contact reads older, never younger, than it
			// was (the peer adds the answer's flight time, the other way).
			age := now.Sub(p.heard)
			ms := age.Milliseconds()
			if time.Duration(ms)*time.Millisecond < age {
				ms++
			}
			resp.Contacts = append(resp.Contacts, &clusterpb.PeerContact{NodeId: id, AgeMs: ms})
		}
	}
}

// indirect returns the latest holdable contact with node id that this
// node had itself or that a fresh report (from a ping sent within Fresh
// of now) shows, and how many voters other than id sent fresh reports.
func (c *peerContacts) indirect(id string, now time.Time) (at time.Time, fresh int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.peers[id]; ok {
		at = p.heard
	}
	for x, p := range c.peers {
		if x == id || !p.voter || now.Sub(p.report.sent) > c.fresh {
			continue
		}
		fresh++
		if t, ok := p.report.contacts[id]; ok && t.After(at) {
			at = t
		}
	}
	return at, fresh
}

// majority is the number of voters that make a majority.
func (c *peerContacts) majority() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.voters/2 + 1
}

// extended reports whether this node, out of contact with a leader since
// ownLeaderAt, may keep holding its addresses at now: a majority (itself
// included) answered one of its holdable pings sent within window, at
// least Fresh ago, and none of those answers shows a leader contact more
// than window/2 younger than this node's own. When not, why says why.
func (c *peerContacts) extended(now time.Time, window time.Duration, ownLeaderAt time.Time) (ok bool, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	count := 1
	for id, p := range c.peers {
		if !p.voter {
			continue
		}
		var best *pingAnswer
		for i := range p.answers {
			a := &p.answers[i]
			if a.answered.IsZero() || !a.holdable || now.Sub(a.answered) < c.fresh || now.Sub(a.sent) > window {
				continue
			}
			if best == nil || a.sent.After(best.sent) {
				best = a
			}
		}
		if best == nil {
			continue
		}
		if !best.leaderAt.IsZero() && best.leaderAt.After(ownLeaderAt.Add(window/2)) {
			// A leader is alive elsewhere: this node is the one cut off.
			return false, fmt.Sprintf("%s heard from a leader %v ago", id, now.Sub(best.leaderAt).Round(time.Millisecond))
		}
		count++
	}
	if need := c.voters/2 + 1; count < need {
		return false, fmt.Sprintf("%d of %d voters in contact, %d needed", count, c.voters, need)
	}
	return true, ""
}
