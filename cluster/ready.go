package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/haraft/haraft/proto/clusterpb"
)

// Ready reports whether the node has caught up with the log (see WaitReady).
func (n *Node) Ready() bool { return n.ready.Load() }

// ReadyCh is closed once the node is ready.
func (n *Node) ReadyCh() <-chan struct{} { return n.readyCh }

// WaitReady is the readiness gate: it finds the leader, asks it for its
// applied index after a barrier (everything committed before this node
// started is then included), and waits until this node's FSM has applied
// that index. Only then does the node report ready and its proxy serve.
func (n *Node) WaitReady(ctx context.Context) error {
	if n.Ready() {
		return nil
	}
	var target, fsmTarget uint64
	for {
		idx, fsmIdx, err := n.readIndex(ctx)
		if err == nil {
			target, fsmTarget = idx, fsmIdx
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("readiness: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for n.raft.AppliedIndex() < target {
		select {
		case <-ctx.Done():
			return fmt.Errorf("readiness: applied %d of %d: %w", n.raft.AppliedIndex(), target, ctx.Err())
		case <-tick.C:
		}
	}
	// Raft's applied index counts entries handed to the FSM; wait for the
	// FSM itself to have applied what the leader's had.
	if err := n.fsm.WaitApplied(ctx, fsmTarget); err != nil {
		return fmt.Errorf("readiness: FSM applied %d of %d: %w", n.fsm.AppliedIndex(), fsmTarget, err)
	}
	if n.ready.CompareAndSwap(false, true) {
		close(n.readyCh)
		n.log.Info("ready: caught up with the leader", "index", target)
	}
	return nil
}

// readIndex returns the leader's applied index after a barrier, and its
// FSM's applied command index then.
func (n *Node) readIndex(ctx context.Context) (uint64, uint64, error) {
	if n.IsLeader() {
		idx, err := n.leaderReadIndex(ctx)
		return idx, n.fsm.AppliedIndex(), err
	}
	_, addr := n.Leader()
	if addr == "" {
		return 0, 0, ErrNoLeader
	}
	conn, err := n.peers.get(addr)
	if err != nil {
		return 0, 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := clusterpb.NewInternalClient(conn).ReadIndex(cctx, &clusterpb.ReadIndexRequest{})
	if err != nil {
		return 0, 0, err
	}
	return resp.Index, resp.FsmIndex, nil
}
