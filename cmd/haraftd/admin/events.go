package admin

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// recentEvents is how many events the hub keeps for replay and the status
// page.
const recentEvents = 200

// membershipPoll is how often the hub compares the Raft configuration
// (configuration entries do not pass through the FSM).
const membershipPoll = 250 * time.Millisecond

// Hub turns what this node observes into Events: leadership changes from
// the cluster's observer, and changes of the replicated state (server
// health and admin state, EIP placements, registered nodes) and of the Raft
// configuration, found by comparing the state after every applied entry
// with the previous one. Comparing, rather than hooking Apply, keeps Apply
// free of side effects; transitions that cancel out between two looks are
// not reported. Nothing is reported until the node has caught up with the
// log, so a restarting node does not replay history as news.
type Hub struct {
	nodeID string
	node   *cluster.Node
	state  *fsm.FSM
	log    *slog.Logger

	mu     sync.Mutex
	seq    uint64
	recent []*adminpb.Event
	subs   map[*subscriber]struct{}
	counts map[adminpb.EventType]uint64

	leaderCh chan cluster.LeaderChange
}

type subscriber struct {
	ch    chan *adminpb.Event
	types map[adminpb.EventType]bool
	lost  bool // fell behind: the stream ends with an error
}

// NewHub returns a hub for node; Run makes it observe.
func NewHub(nodeID string, node *cluster.Node, state *fsm.FSM, log *slog.Logger) *Hub {
	h := &Hub{nodeID: nodeID, node: node, state: state, log: log, subs: map[*subscriber]struct{}{},
		counts: map[adminpb.EventType]uint64{}, leaderCh: make(chan cluster.LeaderChange, 64)}
	node.OnLeaderChange(func(c cluster.LeaderChange) {
		select {
		case h.leaderCh <- c:
		default: // the observer must not block; a burst of elections loses some
		}
	})
	return h
}

// Recent returns up to n of the latest events, oldest first.
func (h *Hub) Recent(n int) []*adminpb.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n > len(h.recent) {
		n = len(h.recent)
	}
	return slices.Clone(h.recent[len(h.recent)-n:])
}

// Count returns how many events of type t the hub has published.
func (h *Hub) Count(t adminpb.EventType) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[t]
}

// Subscribe registers a subscriber for the given types (all when empty).
// With replay, the recent events are delivered first.
func (h *Hub) Subscribe(types []adminpb.EventType, replay bool) (*subscriber, func()) {
	sub := &subscriber{ch: make(chan *adminpb.Event, 256), types: map[adminpb.EventType]bool{}}
	for _, t := range types {
		sub.types[t] = true
	}
	h.mu.Lock()
	if replay {
		for _, e := range h.recent {
			if sub.wants(e) {
				select {
				case sub.ch <- e:
				default:
				}
			}
		}
	}
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	return sub, func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}
}

func (s *subscriber) wants(e *adminpb.Event) bool { return len(s.types) == 0 || s.types[e.Type] }

func (h *Hub) publish(e *adminpb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq, e.ObservedBy = h.seq, h.nodeID
	if e.UnixMs == 0 {
		e.UnixMs = time.Now().UnixMilli()
	}
	h.counts[e.Type]++
	h.recent = append(h.recent, e)
	if len(h.recent) > recentEvents {
		h.recent = slices.Delete(h.recent, 0, len(h.recent)-recentEvents)
	}
	for s := range h.subs {
		if !s.wants(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.lost = true
			close(s.ch)
			delete(h.subs, s)
		}
	}
	h.log.Debug("event", "type", e.Type, "msg", e.Message)
}

// view is what the hub compares between two looks at the state.
type view struct {
	servers *fsm.ServerTable
	nodes   map[string]*fsmpb.Node
	eips    map[string]*fsmpb.EIP
	members map[string]raft.Server
}

func (h *Hub) look(prev *view) *view {
	v := &view{servers: h.state.Servers(), nodes: map[string]*fsmpb.Node{}, eips: map[string]*fsmpb.EIP{}, members: map[string]raft.Server{}}
	for _, n := range h.state.Nodes() {
		v.nodes[n.Id] = n
	}
	for _, e := range h.state.EIPs() {
		v.eips[e.Id] = e
	}
	if f := h.node.Raft().GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			v.members[string(s.ID)] = s
		}
	} else if prev != nil {
		v.members = prev.members
	}
	return v
}

// Run observes until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	select {
	case <-h.node.ReadyCh():
	case <-ctx.Done():
		return
	}
	prev := h.look(nil)
	tick := time.NewTicker(membershipPoll)
	defer tick.Stop()
	applied := make(chan struct{}, 1)
	go func() {
		// Wake the loop at every applied index.
		for idx := h.state.AppliedIndex(); ; {
			if err := h.state.WaitApplied(ctx, idx+1); err != nil {
				return
			}
			idx = h.state.AppliedIndex()
			select {
			case applied <- struct{}{}:
			default:
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			h.closeAll()
			return
		case c := <-h.leaderCh:
			h.publish(leaderEvent(c))
			continue
		case <-applied:
		case <-tick.C:
		}
		next := h.look(prev)
		for _, e := range diff(prev, next) {
			h.publish(e)
		}
		prev = next
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

func leaderEvent(c cluster.LeaderChange) *adminpb.Event {
	e := &adminpb.Event{Type: adminpb.EventType_EVENT_LEADER_CHANGED, Node: c.LeaderID, Term: c.Term}
	if c.LeaderID == "" {
		e.Message = fmt.Sprintf("no leader (term %d)", c.Term)
	} else {
		e.Message = fmt.Sprintf("%s is the leader (term %d)", c.LeaderID, c.Term)
	}
	return e
}

// diff lists the events between two views, in a stable order.
func diff(a, b *view) []*adminpb.Event {
	var out []*adminpb.Event
	if a.servers != b.servers {
		old, cur := a.servers.All(), b.servers.All()
		keys := make([]fsm.ServerKey, 0, len(cur))
		for k := range cur {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y fsm.ServerKey) int {
			if x.Backend != y.Backend {
				return compareStr(x.Backend, y.Backend)
			}
			return compareStr(x.Name, y.Name)
		})
		for _, k := range keys {
			o, n := old[k], cur[k]
			if o.Health != n.Health {
				out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_SERVER_HEALTH, Backend: k.Backend, Server: k.Name,
					Message: fmt.Sprintf("%s/%s is %s (was %s)", k.Backend, k.Name, healthWord(n.Health), healthWord(o.Health))})
			}
			if ch := serverChange(o, n); ch != "" {
				out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_SERVER_CHANGED, Backend: k.Backend, Server: k.Name,
					Message: fmt.Sprintf("%s/%s %s", k.Backend, k.Name, ch)})
			}
		}
	}
	for _, id := range sortedKeys(b.eips) {
		o, n := a.eips[id], b.eips[id]
		if o != nil && o.Holder == n.Holder && o.Pinned == n.Pinned {
			continue
		}
		msg := fmt.Sprintf("EIP %s → %s (%s, term %d)", id, orDash(n.Holder), orDash(n.Reason), n.Term)
		if o != nil && o.Holder == n.Holder {
			msg = fmt.Sprintf("EIP %s %s on %s", id, map[bool]string{true: "pinned", false: "unpinned"}[n.Pinned], orDash(n.Holder))
		} else if o != nil {
			msg = fmt.Sprintf("EIP %s moved %s → %s (%s, term %d)", id, orDash(o.Holder), orDash(n.Holder), orDash(n.Reason), n.Term)
		}
		out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_EIP_MOVED, Eip: id, Node: n.Holder, Term: n.Term, Message: msg})
	}
	for _, id := range sortedKeys(b.members) {
		if _, ok := a.members[id]; !ok {
			m := b.members[id]
			out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_NODE_JOINED, Node: id,
				Message: fmt.Sprintf("%s joined the cluster as %s at %s", id, suffrage(m.Suffrage), m.Address)})
		}
	}
	for _, id := range sortedKeys(a.members) {
		if _, ok := b.members[id]; !ok {
			out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_NODE_LEFT, Node: id, Message: fmt.Sprintf("%s left the cluster", id)})
		}
	}
	for _, id := range sortedKeys(b.nodes) {
		o, n := a.nodes[id], b.nodes[id]
		if o != nil && o.RegisteredUnixMs == n.RegisteredUnixMs {
			continue
		}
		out = append(out, &adminpb.Event{Type: adminpb.EventType_EVENT_NODE_REGISTERED, Node: id,
			Message: fmt.Sprintf("%s registered (az %s, raft %s)", id, orDash(n.Az), orDash(n.RaftAddr))})
	}
	return out
}

func serverChange(o, n fsm.ServerState) string {
	switch {
	case !o.Removed && n.Removed:
		return "removed"
	case n.Dynamic && (o.Removed || !o.Dynamic) && !n.Removed:
		return "added at " + n.Addr
	case o.Admin != n.Admin:
		return fmt.Sprintf("set %s (was %s)", adminWord(n.Admin), adminWord(o.Admin))
	case o.Weight != n.Weight || o.WeightSet != n.WeightSet:
		if !n.WeightSet {
			return "weight back to the configured one"
		}
		return fmt.Sprintf("weight set to %d", n.Weight)
	}
	return ""
}

func compareStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func healthWord(h fsmpb.Health) string {
	switch h {
	case fsmpb.Health_HEALTH_UP:
		return "up"
	case fsmpb.Health_HEALTH_DOWN:
		return "down"
	}
	return "unknown"
}

func adminWord(a fsmpb.AdminState) string {
	switch a {
	case fsmpb.AdminState_ADMIN_DRAIN:
		return "drain"
	case fsmpb.AdminState_ADMIN_MAINT:
		return "maint"
	}
	return "ready"
}

func suffrage(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	case raft.Staging:
		return "staging"
	}
	return s.String()
}
