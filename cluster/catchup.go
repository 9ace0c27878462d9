package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/haraft/haraft/proto/clusterpb"
)

// catchUp coalesces CatchUp calls: callers that arrive while a fetch of
// the leader's commit index is in flight wait for the next fetch (one that
// starts after they arrived, so it covers everything committed before
// them); one RPC serves them all.
type catchUp struct {
	mu      sync.Mutex
	running bool
	next    *commitFetch // the fetch the next arrivals join
}

type commitFetch struct {
	done chan struct{}
	idx  uint64
	err  error
}

// CatchUp waits until this node's FSM has applied everything the leader
// had committed when CatchUp was called, or until ctx ends. The proxy calls
// it before treating a session cookie it does not know as new: a binding
// another node just committed (learn_commit: sync answered already) may
// not have reached this node's FSM yet, and routing the session elsewhere
// would break stickiness.
func (n *Node) CatchUp(ctx context.Context) error {
	var f *commitFetch
	for {
		f = n.catchUp.join(n)
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err == nil {
			break
		}
		// No leader known (an election), or it did not answer: try again
		// until the caller's deadline.
		select {
		case <-ctx.Done():
			return fmt.Errorf("catch up: %w (last error: %v)", ctx.Err(), f.err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return n.fsm.WaitApplied(ctx, f.idx)
}

func (c *catchUp) join(n *Node) *commitFetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = &commitFetch{done: make(chan struct{})}
	}
	f := c.next
	if !c.running {
		c.start(n)
	}
	return f
}

// start runs the pending fetch; called with c.mu held.
func (c *catchUp) start(n *Node) {
	f := c.next
	c.next, c.running = nil, true
	go func() {
		f.idx, f.err = n.leaderCommitIndex()
		close(f.done)
		c.mu.Lock()
		c.running = false
		if c.next != nil {
			c.start(n)
		}
		c.mu.Unlock()
	}()
}

// leaderCommitIndex returns the leader FSM's applied command index: a
// proposal answered to a client (learn_commit: sync) was applied by the
// leader's FSM first, so a node whose FSM reaches this index has it. (Raft's
// own applied index counts entries handed to the FSM, not applied by it,
// and includes no-ops the FSM never sees.) Its own when it leads, else
// asked over the cluster port.
func (n *Node) leaderCommitIndex() (uint64, error) {
	if n.IsLeader() {
		return n.fsm.AppliedIndex(), nil
	}
	_, addr := n.Leader()
	if addr == "" {
		return 0, ErrNoLeader
	}
	conn, err := n.peers.get(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := clusterpb.NewInternalClient(conn).ReadIndex(ctx, &clusterpb.ReadIndexRequest{CommitOnly: true})
	if err != nil {
		return 0, err
	}
	return resp.FsmIndex, nil
}
