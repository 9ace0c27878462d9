package proxy

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// fakeCluster stands in for the cluster in tests that need no Raft: it
// hands the health views reported to it to views, catches up with
// catchUp, and answers the membership questions from voters and dead.
// Tests that propose sessions or expire them run real Raft nodes
// (internal/testcluster).
type fakeCluster struct {
	views   func([]*fsmpb.HealthView)
	catchUp func(context.Context) error
	voters  []string
	dead    map[string]bool
}

var errNoRaft = errors.New("fake cluster: no Raft in this test")

func (f *fakeCluster) Apply(_ context.Context, _ fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error) {
	if m, ok := msg.(*fsmpb.ReportHealthViews); ok && f.views != nil {
		f.views(m.Views)
		return &fsmpb.ApplyResult{}, nil
	}
	return nil, errNoRaft
}

func (f *fakeCluster) ApplyAsLeader(context.Context, fsm.MessageType, proto.Message) (*fsmpb.ApplyResult, error) {
	return nil, errNoRaft
}

func (f *fakeCluster) IsLeader() bool       { return true }
func (f *fakeCluster) Voters() []string     { return f.voters }
func (f *fakeCluster) Alive(id string) bool { return !f.dead[id] }

func (f *fakeCluster) CatchUp(ctx context.Context) error {
	if f.catchUp == nil {
		return nil
	}
	return f.catchUp(ctx)
}
