package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ErrorDomain is the domain of the ErrorInfo details of this API's statuses.
const ErrorDomain = "haraft.admin.v1"

// ReasonNotLeader is the ErrorInfo reason of a call that only the leader
// can take; its metadata names the leader ("leader_id") and, when known,
// its admin address ("leader_admin_addr"), which haraftctl retries at.
const ReasonNotLeader = "NOT_LEADER"

// writeTimeout bounds a write whose caller set no deadline.
const writeTimeout = 10 * time.Second

func withWriteTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, writeTimeout)
}

// notLeader is the status of a leader-only call made on a follower.
func (s *Server) notLeader(method string) error {
	id, _ := s.opts.Node.Leader()
	if id == "" {
		return status.Errorf(codes.FailedPrecondition, "not the leader and no leader known: %s needs the leader; retry once an election is over (haraftctl status shows the leader)", method)
	}
	addr := s.adminAddrOf(id)
	var st *status.Status
	if addr == "" {
		st = status.Newf(codes.FailedPrecondition, "not the leader: %s runs on the leader %s, whose admin address is unknown; run it against %s's admin listener", method, id, id)
	} else {
		st = status.Newf(codes.FailedPrecondition, "not the leader: %s runs on the leader %s; run it against %s (haraftctl follows this)", method, id, addr)
	}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonNotLeader, Domain: ErrorDomain,
		Metadata: map[string]string{"leader_id": id, "leader_admin_addr": addr}}); err == nil {
		st = d
	}
	return st.Err()
}

// adminAddrOf returns the admin address a node registered, "" if none.
func (s *Server) adminAddrOf(id string) string {
	for _, n := range s.opts.FSM.Nodes() {
		if n.Id == id {
			return n.AdminAddr
		}
	}
	return ""
}

// apply commits one administrative FSM command and maps both kinds of
// failure — the cluster's and the command's own — to statuses.
//
// Only the leader's admin API proposes administrative commands: the
// cluster port's forwarding RPC refuses them (cluster/forwardpolicy.go),
// so that they enter the log only after an admin API checked a write
// token, never because someone reached a cluster port. On a follower the
// call is answered NOT_LEADER with the leader's admin address, which
// haraftctl follows with the caller's token and TLS settings; the leader
// checks that token against its own admin.tokens. (The alternative, a
// follower relaying the call to the leader's admin API, would need every
// node to hold a client certificate for its peers' admin listeners and
// would make a follower a confused deputy for whatever token it relays.)
func (s *Server) apply(ctx context.Context, t fsm.MessageType, msg proto.Message) error {
	ctx, cancel := withWriteTimeout(ctx)
	defer cancel()
	method := shortMethod(ctx)
	if !s.opts.Node.IsLeader() {
		return s.notLeader(method)
	}
	res, err := s.opts.Node.ApplyAsLeader(ctx, t, msg)
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return s.notLeader(method)
		}
		return clusterStatus(err)
	}
	return resultStatus(res)
}

// shortMethod is the name of the call ctx belongs to ("SetServerAdmin").
func shortMethod(ctx context.Context) string {
	m, ok := grpc.Method(ctx)
	if !ok {
		return "this call"
	}
	return m[strings.LastIndex(m, "/")+1:]
}

// clusterStatus maps an error of cluster.Node.Apply or of a Raft call.
func clusterStatus(err error) error {
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	msg := err.Error()
	switch {
	case errors.Is(err, cluster.ErrNoLeader) || strings.Contains(msg, cluster.ErrNoLeader.Error()):
		return status.Errorf(codes.Unavailable, "no leader known: the cluster has no quorum or is electing; retry, and check `haraftctl members` (%v)", err)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Errorf(codes.DeadlineExceeded, "not committed in time: %v; the leader may have lost its quorum, check `haraftctl members`", err)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return status.Errorf(codes.Unavailable, "%v: leadership changed during the call; retry", err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return status.Errorf(codes.Unavailable, "this node is shutting down: %v", err)
	}
	return status.Errorf(codes.Internal, "%v", err)
}

// resultStatus maps an FSM business error.
func resultStatus(res *fsmpb.ApplyResult) error {
	if res == nil || res.ErrorCode == "" {
		return nil
	}
	code := codes.FailedPrecondition
	switch res.ErrorCode {
	case "invalid":
		code = codes.InvalidArgument
	case "not_found":
		code = codes.NotFound
	case "exists":
		code = codes.AlreadyExists
	case "stale_term":
		code = codes.Aborted
	}
	return status.Error(code, res.Error)
}

func required(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return status.Errorf(codes.InvalidArgument, "%s is required", fields[i])
		}
	}
	return nil
}

func knownList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func notFound(format string, args ...any) error {
	return status.Error(codes.NotFound, fmt.Sprintf(format, args...))
}

// await gives this node's FSM a moment to apply a write the leader has
// committed, so a write answered by a follower shows its own effect. It
// returns when done reports true, after 2 s, or when ctx ends.
func (s *Server) await(ctx context.Context, done func() bool) {
	deadline := time.Now().Add(2 * time.Second)
	for !done() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}
