package cluster

// Node liveness, both ways round:
//
//   - on the leader, which peers are alive: a peer is alive while the
//     leader has heard from it within DeadAfter, itself or through a
//     majority of fresh contact reports (contacts.go). The leader hears
//     from a peer when a liveness probe or a contact ping (the Ping RPC,
//     with a deadline, so a black-holed or stopped peer is noticed without
//     waiting for Raft's 5 s transport timeout) is answered, when a
//     holdable contact ping arrives from it, or when Raft reports that its
//     heartbeats to the peer resumed; Raft's failed-heartbeat
//     observations trigger an immediate probe. Probes run in the
//     background (a probe hung on a dead peer delays no other), and a
//     timer set for the earliest expiry declares a silent peer dead at
//     DeadAfter after its last contact, not at the next probe round.
//   - on every node, when it last had contact with a leader (itself
//     included), which the node-side EIP agent uses to fence itself.
//
// Liveness observes; it decides nothing and proposes nothing. What follows
// from a peer's death (its addresses move, its Route 53 value goes, its
// health votes stop counting) is decided by the leader loops that read
// this view (package cluster/leader). It is not a leader loop itself: the
// follower half (contact with a leader, for fencing) runs on every node,
// and the leader half must switch with Raft's own leadership callback and
// remember the previous leader's last contact from before the election,
// so that its first view is ready before any leader loop reads it.

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/clusterpb"
)

// LivenessConfig configures a Liveness.
type LivenessConfig struct {
	// DeadAfter is how long the leader may go without hearing from a peer
	// before it counts the peer dead. Required.
	DeadAfter time.Duration
	// ProbeInterval is how often the leader probes each peer; default
	// DeadAfter/10, between 10 ms and 100 ms. The leader's last contact
	// with a peer is up to one interval older than the peer's last
	// contact with the leader, so dead_after must leave it as margin.
	// A probe goes to each peer every interval, whether or not the
	// previous ones were answered (a few in flight at most); its deadline
	// is max(4 × interval, DeadAfter/2, 20 ms).
	ProbeInterval time.Duration
	// ContactInterval is how often every node pings every peer for the
	// contact reports (contacts.go); default ProbeInterval. A VIP holder's
	// lease must be well over 5 of them for HoldExtended to help.
	ContactInterval time.Duration
	Logger          *slog.Logger
}

// PeerLiveness is the leader's view of one peer.
type PeerLiveness struct {
	ID          string
	Alive       bool
	LastContact time.Time // last time the leader heard from the peer
	// HeartbeatFailing is set while Raft's heartbeats to the peer fail.
	HeartbeatFailing bool
	// Confirmed: the leader has heard from the peer since it took over.
	// An unconfirmed peer is alive only by the benefit of the doubt every
	// peer gets for DeadAfter when a leader takes over.
	Confirmed bool
}

// Liveness tracks, on the leader, which peers are alive, and on every node
// when it last had contact with a leader. Create it with NewLiveness and
// Close it before the node shuts down.
type Liveness struct {
	n   *Node
	cfg LivenessConfig
	log *slog.Logger

	contacts *peerContacts

	obsCh chan raft.Observation
	obs   *raft.Observer
	lead  chan struct{} // signals that pending holds a leader change
	kick  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup

	lastLed atomic.Int64 // unix ns of this node's last quorum contact as a leader

	mu         sync.Mutex
	pending    []LeaderChange
	leading    bool
	ready      bool // the first probe round of this leadership is done
	term       uint64
	prevLeader string
	peers      map[string]*peerState
	changed    chan struct{} // closed and replaced when a peer's Alive or Confirmed flips
	conns      map[string]*grpc.ClientConn
}

type peerState struct {
	addr        string
	lastContact time.Time
	alive       bool
	failing     bool
	confirmed   bool // heard from since this node became leader
	probes      int  // probes in flight
}

// NewLiveness starts tracking liveness on n.
func NewLiveness(n *Node, cfg LivenessConfig) *Liveness {
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 3 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = min(max(cfg.DeadAfter/10, 10*time.Millisecond), 100*time.Millisecond)
	}
	if cfg.ContactInterval <= 0 {
		cfg.ContactInterval = cfg.ProbeInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	l := &Liveness{
		n: n, cfg: cfg, log: cfg.Logger,
		obsCh: make(chan raft.Observation, 64), lead: make(chan struct{}, 1),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		peers: map[string]*peerState{}, changed: make(chan struct{}), conns: map[string]*grpc.ClientConn{},
	}
	l.obs = raft.NewObserver(l.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(l.obs)
	// The callback must not block the node's observer: queue and signal.
	n.OnLeaderChange(func(c LeaderChange) {
		l.mu.Lock()
		l.pending = append(l.pending, c)
		l.mu.Unlock()
		select {
		case l.lead <- struct{}{}:
		default:
		}
	})
	l.contacts = newPeerContacts(n, cfg.ContactInterval, l.LeaderContact, l.conn, l.dropConn)
	l.contacts.onContact = l.contact
	n.contacts.Store(l.contacts)
	n.liveness.Store(l)
	l.wg.Add(2)
	go l.loop()
	go func() {
		defer l.wg.Done()
		l.contacts.run(l.done)
	}()
	return l
}

// Close stops the tracking.
func (l *Liveness) Close() {
	select {
	case <-l.done:
		return
	default:
	}
	l.n.raft.DeregisterObserver(l.obs)
	l.n.contacts.CompareAndSwap(l.contacts, nil)
	l.n.liveness.CompareAndSwap(l, nil)
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for a, c := range l.conns {
		c.Close()
		delete(l.conns, a)
	}
}

// DeadAfter returns the configured DeadAfter.
func (l *Liveness) DeadAfter() time.Duration { return l.cfg.DeadAfter }

// SetHoldable says whether this node may be holding node-local addresses:
// false only once its agent is fenced and has dropped them. Its pings
// carry it; see contacts.go.
func (l *Liveness) SetHoldable(v bool) { l.contacts.holdable.Store(v) }

// HoldExtended reports whether this node, out of contact with a leader
// for longer than its lease (window), may still keep its addresses: a
// majority answered its pings within the window and none hears from a
// leader it does not (a leader died and the election is running). See
// contacts.go for why no other node can be given them meanwhile.
// When not, why says why.
func (l *Liveness) HoldExtended(window time.Duration) (ok bool, why string) {
	return l.contacts.extended(time.Now(), window, l.LeaderContact())
}

// LeaderContact returns when this node last had contact with a leader.
// On the leader, when it last heard from a quorum (itself and enough
// peers, by the liveness probes): a leader frozen or cut off still
// believes it leads until Raft steps it down, and must not count that
// belief as contact. On a follower, the later of Raft's last contact and
// the leader's last quorum contact while this node led (Raft's own
// step-down stamp lands a moment after the state changes). Zero when it
// never had any.
func (l *Liveness) LeaderContact() time.Time {
	if l.n.IsLeader() {
		at := l.quorumContact(time.Now())
		l.lastLed.Store(at.UnixNano())
		return at
	}
	last := l.n.raft.LastContact()
	if led := l.lastLed.Load(); led > 0 && time.Unix(0, led).After(last) {
		return time.Unix(0, led)
	}
	return last
}

// quorumContact returns when this leader last heard from a quorum: now
// while the tracker has not started leading (a leader just elected heard
// from a quorum a moment ago), else the time by which it had heard from
// enough peers to make a majority with itself.
func (l *Liveness) quorumContact(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quorumContactLocked(now)
}

func (l *Liveness) quorumContactLocked(now time.Time) time.Time {
	if !l.leading {
		return now
	}
	cs := make([]time.Time, 0, len(l.peers))
	for _, p := range l.peers {
		cs = append(cs, p.lastContact)
	}
	need := (len(cs) + 1) / 2 // peers that make a majority with this node
	if need == 0 {
		return now
	}
	slices.SortFunc(cs, func(a, b time.Time) int { return b.Compare(a) })
	if cs[need-1].After(now) {
		return now
	}
	return cs[need-1]
}

// Leading reports whether the tracker is in leader mode and for which
// term. A new leader's tracker turns leading once its first round of
// probes is answered or timed out, so its first view is not a guess.
func (l *Liveness) Leading() (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading && l.ready, l.term
}

// Confirmed reports whether the leader has heard from node id since it
// took over (itself always).
func (l *Liveness) Confirmed(id string) bool {
	if id == l.n.ID() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	return ok && l.leading && p.confirmed
}

// Alive reports whether the leader counts node id alive: itself always;
// a peer while the leader heard from it within DeadAfter. On a follower
// it reports false for every peer.
func (l *Liveness) Alive(id string) bool {
	if id == l.n.ID() {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	return ok && l.leading && p.alive
}

// Peers returns the leader's view of its peers, sorted by id; empty on a
// follower.
func (l *Liveness) Peers() []PeerLiveness {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]PeerLiveness, 0, len(l.peers))
	if !l.leading {
		return out
	}
	for id, p := range l.peers {
		out = append(out, PeerLiveness{ID: id, Alive: p.alive, LastContact: p.lastContact, HeartbeatFailing: p.failing, Confirmed: p.confirmed})
	}
	slices.SortFunc(out, func(a, b PeerLiveness) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Changed returns a channel closed at the next change of the leader's
// view: a peer turning alive or dead, or leadership gained or lost.
func (l *Liveness) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *Liveness) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *Liveness) loop() {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.ProbeInterval)
	defer tick.Stop()
	// expire fires at the earliest instant a live peer turns dead, so a
	// silent peer is declared dead DeadAfter after its last contact.
	expire := time.NewTimer(time.Hour)
	defer expire.Stop()
	l.notePrevLeader()
	if l.n.IsLeader() {
		l.becomeLeader()
	}
	for {
		// Every change that can bring an expiry nearer (a new leadership,
		// a new peer) happens on this goroutine: re-arm at each turn.
		expire.Reset(l.untilExpiry())
		select {
		case <-l.done:
			return
		case <-l.lead:
			l.mu.Lock()
			changes := l.pending
			l.pending = nil
			l.mu.Unlock()
			for _, c := range changes {
				if c.IsSelf {
					l.becomeLeader()
				} else {
					l.stopLeading(c.LeaderID)
				}
			}
		case o := <-l.obsCh:
			l.observe(o)
		case <-l.kick:
			l.probeAll()
		case <-tick.C:
			l.notePrevLeader()
			l.refreshPeers()
			l.probeAll()
		case <-expire.C:
			l.mu.Lock()
			l.expireLocked(time.Now())
			l.mu.Unlock()
		}
	}
}

// settled reports whether every peer has been heard from in this
// leadership or is dead.
func (l *Liveness) settled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(time.Now())
	for _, p := range l.peers {
		if p.alive && !p.confirmed {
			return false
		}
	}
	return true
}

// notePrevLeader remembers the leader this node follows, so that when it
// takes over it judges that leader by when it last heard from it rather
// than giving it the benefit of the doubt. The leader-change callbacks say
// the same, but a node that started (or restarted) into a cluster can
// learn its leader before this tracker subscribed.
func (l *Liveness) notePrevLeader() {
	if id, _ := l.n.Leader(); id != "" && id != l.n.ID() {
		l.mu.Lock()
		l.prevLeader = id
		l.mu.Unlock()
	}
}

// untilExpiry returns how long until the next live peer's contact is
// DeadAfter old (an hour when there is none).
func (l *Liveness) untilExpiry() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := time.Hour
	if !l.leading {
		return next
	}
	now := time.Now()
	for _, p := range l.peers {
		if p.alive {
			// Past due: a peer kept alive by reports, or whose death waits
			// for fresh reports from a majority: look again shortly.
			next = min(next, max(p.lastContact.Add(l.cfg.DeadAfter).Sub(now), l.contacts.interval/2))
		}
	}
	return next
}

// becomeLeader resets the view: every peer gets the benefit of the doubt
// (contact = now) except the previous leader, whose last contact is when
// this node last heard from it as a follower.
func (l *Liveness) becomeLeader() {
	now := time.Now()
	lastFromLeader := l.n.raft.LastContact()
	term := l.n.raft.CurrentTerm()
	l.mu.Lock()
	if l.leading && l.term == term {
		l.mu.Unlock()
		return
	}
	l.leading, l.ready, l.term = true, false, term
	l.peers = map[string]*peerState{}
	l.mu.Unlock()
	l.refreshPeers()
	l.mu.Lock()
	for id, p := range l.peers {
		p.lastContact = now
		if id == l.prevLeader && !lastFromLeader.IsZero() && lastFromLeader.Before(now) {
			p.lastContact = lastFromLeader
		}
		p.alive = now.Sub(p.lastContact) < l.cfg.DeadAfter
	}
	l.mu.Unlock()
	// The first view is not a guess: wait for the first probes' answers,
	// but not for a silent peer's probe to time out (it stays
	// unconfirmed, and its contact is judged by DeadAfter anyway), and
	// not at all once every peer has answered or is already dead (the
	// previous leader, silent for DeadAfter while the election ran).
	all := l.probeAll()
	limit := time.NewTimer(max(2*l.cfg.ProbeInterval, 50*time.Millisecond))
	defer limit.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
wait:
	for !l.settled() {
		select {
		case <-all:
			break wait
		case <-limit.C:
			break wait
		case <-l.done:
			return
		case <-poll.C:
		}
	}
	l.mu.Lock()
	if l.leading && l.term == term {
		l.ready = true
		l.notifyLocked()
	}
	l.mu.Unlock()
	l.log.Info("liveness: leading", "term", term, "peers", l.Peers())
}

func (l *Liveness) stopLeading(leader string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if leader != "" {
		l.prevLeader = leader
	}
	if l.leading {
		l.lastLed.Store(l.quorumContactLocked(time.Now()).UnixNano())
		l.leading, l.ready = false, false
		l.notifyLocked()
	}
}

// refreshPeers follows the Raft configuration: new servers start with
// contact = now, removed ones are dropped.
func (l *Liveness) refreshPeers() {
	l.mu.Lock()
	leading := l.leading
	l.mu.Unlock()
	if !leading {
		return
	}
	f := l.n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range servers {
		id := string(s.ID)
		if id == l.n.ID() {
			continue
		}
		seen[id] = true
		if p, ok := l.peers[id]; ok {
			p.addr = string(s.Address)
			continue
		}
		l.peers[id] = &peerState{addr: string(s.Address), lastContact: now, alive: true}
	}
	for id := range l.peers {
		if !seen[id] {
			delete(l.peers, id)
			l.notifyLocked()
		}
	}
	l.expireLocked(now)
}

// expireLocked marks dead the peers not heard from within DeadAfter,
// neither by this node nor by any peer's fresh report; a peer is not
// counted dead unless fresh reports and this node make a majority (see
// contacts.go). A report is contact too: it brings a dead peer back.
func (l *Liveness) expireLocked(now time.Time) {
	for id, p := range l.peers {
		alive := now.Sub(p.lastContact) < l.cfg.DeadAfter
		if !alive || !p.alive {
			at, fresh := l.contacts.indirect(id, now)
			if at.After(p.lastContact) && !at.After(now) {
				p.lastContact = at
				alive = now.Sub(p.lastContact) < l.cfg.DeadAfter
			}
			if !alive && p.alive && fresh+1 < l.contacts.majority() {
				continue // no majority of fresh reports to judge by: not yet
			}
		}
		if alive != p.alive {
			p.alive = alive
			l.log.Info("liveness: peer "+map[bool]string{true: "alive", false: "dead"}[alive], "peer", id,
				"last_contact_ago", now.Sub(p.lastContact).Round(time.Millisecond))
			l.notifyLocked()
		}
	}
}

func (l *Liveness) contact(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.peers[id]
	if !ok || !l.leading {
		return
	}
	if !p.confirmed {
		// A peer that turns confirmed may now take addresses: tell the
		// placement at once rather than at its next periodic look.
		p.confirmed = true
		l.notifyLocked()
	}
	if at.After(p.lastContact) {
		p.lastContact = at
	}
	l.expireLocked(time.Now())
}

func (l *Liveness) observe(o raft.Observation) {
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		l.mu.Lock()
		if p, ok := l.peers[string(d.PeerID)]; ok && !p.failing {
			p.failing = true
			l.log.Debug("liveness: heartbeats failing", "peer", d.PeerID, "raft_last_contact", d.LastContact)
		}
		l.mu.Unlock()
		select { // probe now rather than at the next tick
		case l.kick <- struct{}{}:
		default:
		}
	case raft.ResumedHeartbeatObservation:
		l.mu.Lock()
		if p, ok := l.peers[string(d.PeerID)]; ok {
			p.failing = false
		}
		l.mu.Unlock()
		l.contact(string(d.PeerID), time.Now())
	}
}

// probeAll pings every peer in the background (a peer with a timeout's
// worth of probes in flight is skipped); the returned channel is closed
// once the probes started by this call have all been answered or timed
// out.
func (l *Liveness) probeAll() <-chan struct{} {
	all := make(chan struct{})
	l.mu.Lock()
	if !l.leading {
		l.mu.Unlock()
		close(all)
		return all
	}
	term := l.term
	timeout := max(4*l.cfg.ProbeInterval, l.cfg.DeadAfter/2, 20*time.Millisecond)
	maxInFlight := int(timeout/l.cfg.ProbeInterval) + 1
	targets := make(map[string]string, len(l.peers))
	for id, p := range l.peers {
		if p.probes < maxInFlight {
			p.probes++
			targets[id] = p.addr
		}
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for id, addr := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				l.mu.Lock()
				if p, ok := l.peers[id]; ok && p.probes > 0 {
					p.probes--
				}
				l.mu.Unlock()
			}()
			l.contacts.ping(id, addr, term, timeout) // an answer is contact (onContact)
		}()
	}
	go func() {
		wg.Wait()
		close(all)
	}()
	return all
}

// dropConn closes the probe connection to addr if it is still c, so that
// the next probe dials afresh. A connection whose packets were dropped
// (a partition, a link down) stays open but stuck in TCP's retransmission
// backoff for seconds after the path is back; a new one is not.
func (l *Liveness) dropConn(addr string, c *grpc.ClientConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[addr] == c {
		delete(l.conns, addr)
		go c.Close() // fails the probes still on it at once
	}
}

// conn returns the probe connection to addr. Probes use their own
// connections, which reconnect within a probe interval once a peer is
// back (gRPC's default reconnect backoff grows to two minutes).
func (l *Liveness) conn(addr string) (*grpc.ClientConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[addr]; ok {
		return c, nil
	}
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		timeout := l.cfg.ProbeInterval
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		return l.n.mux.dial(target, muxGRPC, timeout)
	}
	bo := backoff.DefaultConfig
	bo.BaseDelay = max(l.cfg.ProbeInterval/2, 10*time.Millisecond)
	bo.MaxDelay = max(l.cfg.ProbeInterval, 20*time.Millisecond)
	c, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS, when configured, is done by the mux dialer
		grpc.WithContextDialer(dial),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: max(l.cfg.ProbeInterval, 20*time.Millisecond)}))
	if err != nil {
		return nil, err
	}
	l.conns[addr] = c
	return c, nil
}

// Ping answers a liveness probe or a contact ping, with this node's
// contact report. A ping counts as contact with the node it names, so with
// peer identities it must name the peer itself (node2 cannot keep a dead
// node3 looking alive), from a member of the cluster.
func (s *internalServer) Ping(ctx context.Context, req *clusterpb.PingRequest) (*clusterpb.PingResponse, error) {
	if peerID, verified := verifiedPeer(ctx); verified && (peerID != req.FromNode || !s.n.isMember(peerID)) {
		err := fmt.Errorf("ping in the name of %q from node %s (a member: %v)", req.FromNode, peerID, s.n.isMember(peerID))
		s.refused(ctx, "ping", peerID, req.FromNode, err)
		return nil, status.Errorf(codes.PermissionDenied, "ping refused: %v", err)
	}
	resp := &clusterpb.PingResponse{NodeId: s.n.ID(), Term: s.n.raft.CurrentTerm(), LeaderContactAgeMs: -1}
	if c := s.n.contacts.Load(); c != nil {
		c.received(req, resp)
	}
	return resp, nil
}

// CatchUp waits until this node's FSM has applied everything the leader
// had applied when asked (a read-index barrier through the leader). A node
// that regains contact after a partition calls it before trusting its
// state again: a heartbeat can arrive before the entries it missed.
func (l *Liveness) CatchUp(ctx context.Context) error {
	var idx uint64
	if l.n.IsLeader() {
		i, err := l.n.leaderReadIndex(ctx)
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		idx = i
	} else {
		_, addr := l.n.Leader()
		if addr == "" {
			return fmt.Errorf("catch up: %w", ErrNoLeader)
		}
		conn, err := l.conn(addr)
		if err != nil {
			return fmt.Errorf("catch up: %w", err)
		}
		resp, err := clusterpb.NewInternalClient(conn).ReadIndex(ctx, &clusterpb.ReadIndexRequest{})
		if err != nil {
			return fmt.Errorf("catch up: read index from %s: %w", addr, err)
		}
		idx = resp.Index
	}
	if err := l.n.fsm.WaitApplied(ctx, idx); err != nil {
		return fmt.Errorf("catch up to index %d: %w", idx, err)
	}
	return nil
}
