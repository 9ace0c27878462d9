// Package proxy owns haraft's data plane: the frontends (listeners), the
// backends with their servers, server selection (balance policies and the
// deterministic rendezvous reassignment), the cookie modes (learn, prefix,
// insert, rewrite), the learner that batches learned bindings into Raft
// proposals, and the error responses clients see.
//
// The proxy reads agreed state (committed session bindings, each server's
// admin state and agreed health) from the FSM through the State interface
// and never waits for Raft on the request path unless a backend is
// configured with learn_commit: sync. Routing decisions (router.go) are
// separate from the forwarding engine (frontend.go), so the engine can be
// replaced without touching cookie or balancing behaviour.
package proxy

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// State is the agreed state the proxy reads: committed bindings and the
// server table. *fsm.FSM satisfies it.
type State interface {
	Lookup(backend, key string) (server string, ok bool)
	Servers() *fsm.ServerTable
}

// Proposer submits commands to the cluster. *cluster.Node satisfies it.
type Proposer interface {
	Apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error)
}
