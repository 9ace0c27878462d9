package cluster

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ApplyAsLeader proposes a command only if this node is the leader: unlike
// Apply it never forwards and never retries through another leader, so a
// decision a leader made (an EIP placement, stamped with its term) can
// never be committed on its behalf after it was deposed. It returns an
// error wrapping raft.ErrNotLeader when this node is not the leader, and
// raft.ErrLeadershipLost when leadership was lost while the entry was in
// flight (maybe committed).
func (n *Node) ApplyAsLeader(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error) {
	if !n.IsLeader() {
		return nil, fmt.Errorf("apply as leader: %w", raft.ErrNotLeader)
	}
	data, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultApplyTimeout)
		defer cancel()
	}
	res, _, err := n.applyLocal(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("apply as leader: %w", err)
	}
	return res, nil
}
