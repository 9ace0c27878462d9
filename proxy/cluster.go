package proxy

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// Cluster is the proxy's one way to the consensus layer: the learner, the
// health monitor, the health agreement and session expiry reach Raft only
// through it. *cluster.Node satisfies it (proxy never imports cluster);
// tests use real nodes (internal/testcluster) or, where no Raft is needed,
// a fake.
type Cluster interface {
	// Apply proposes a command through the leader (a follower forwards
	// it) and returns its result once this node has applied it.
	Apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error)
	// ApplyAsLeader proposes a command only while this node leads, never
	// forwarding: the leader's own decisions (agreed health, expiry),
	// which a deposed leader must not get committed.
	ApplyAsLeader(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error)
	// IsLeader reports whether this node leads now.
	IsLeader() bool
	// Voters returns the ids of the voting members.
	Voters() []string
	// Alive reports whether the leader counts member id alive.
	Alive(id string) bool
	// CatchUp waits until this node has applied what the leader had
	// committed when asked.
	CatchUp(ctx context.Context) error
}

// ApplyError is a command the state machine refused (its result's
// ErrorCode and Error).
type ApplyError struct{ Result *fsmpb.ApplyResult }

func (e *ApplyError) Error() string { return e.Result.ErrorCode + ": " + e.Result.Error }

// applied turns a refused command's result into an *ApplyError.
func applied(res *fsmpb.ApplyResult, err error) (*fsmpb.ApplyResult, error) {
	if err == nil && res == nil {
		err = errors.New("no result")
	}
	if err == nil && res.ErrorCode != "" {
		err = &ApplyError{res}
	}
	return res, err
}
