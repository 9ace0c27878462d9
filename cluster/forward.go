package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/clusterpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

// ErrNoLeader is returned when no leader became known before the deadline.
var ErrNoLeader = errors.New("no leader known")

// defaultApplyTimeout bounds a proposal when ctx has no deadline.
const defaultApplyTimeout = 10 * time.Second

// Apply proposes an FSM command and returns its result once committed and
// applied on the leader. A follower forwards it to the leader over the
// cluster port, which it may only do for the commands a follower makes
// (Forwardable); any other command fails on a follower with
// ErrNotForwarded. It retries through leader changes until ctx ends; every
// haraft command is idempotent, so a retry after ErrLeadershipLost (which
// means "maybe committed") is safe.
func (n *Node) Apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error) {
	data, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, err
	}
	res, _, err := n.applyEncoded(ctx, data)
	return res, err
}

func (n *Node) applyEncoded(ctx context.Context, data []byte) (*fsmpb.ApplyResult, uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultApplyTimeout)
		defer cancel()
	}
	backoff := 5 * time.Millisecond
	var lastErr error
	for {
		var (
			res   *fsmpb.ApplyResult
			index uint64
			err   error
		)
		switch {
		case n.IsLeader():
			res, index, err = n.applyLocal(ctx, data)
		case len(data) > 0 && !Forwardable(fsm.MessageType(data[0])):
			// The leader would refuse it (internalServer.Apply): say so
			// here, without a round trip, and without retrying.
			return nil, 0, fmt.Errorf("%w: %s", ErrNotForwarded, fsm.MessageType(data[0]))
		default:
			res, index, err = n.forward(ctx, data)
		}
		if err == nil {
			return res, index, nil
		}
		if !retryable(err) {
			return nil, 0, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("apply: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

func retryable(err error) bool {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, ErrNoLeader) ||
		errors.Is(err, raft.ErrEnqueueTimeout) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.FailedPrecondition, codes.Aborted:
		return true
	}
	return false
}

func (n *Node) applyLocal(ctx context.Context, data []byte) (*fsmpb.ApplyResult, uint64, error) {
	if err := n.fsm.Validate(data); err != nil {
		return nil, 0, err
	}
	data, err := fsm.StampLeaderTime(data, n.clock.Now())
	if err != nil {
		return nil, 0, err
	}
	timeout := defaultApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.raft.Apply(data, timeout)
	if err := awaitFuture(ctx, f); err != nil {
		if isDiskError(err) {
			// The leader could not write its own log (full or failing
			// disk): raft steps down, the entry was not replicated, and
			// the proposal must go to the next leader (diskwatch.go).
			return nil, 0, fmt.Errorf("%w: the leader's log write failed: %v", raft.ErrLeadershipLost, err)
		}
		return nil, 0, err
	}
	res, ok := f.Response().(*fsmpb.ApplyResult)
	if !ok {
		return nil, 0, fmt.Errorf("apply: unexpected FSM response %T", f.Response())
	}
	return res, f.Index(), nil
}

func (n *Node) forward(ctx context.Context, data []byte) (*fsmpb.ApplyResult, uint64, error) {
	_, addr := n.Leader()
	if addr == "" {
		return nil, 0, ErrNoLeader
	}
	conn, err := n.peers.get(addr)
	if err != nil {
		return nil, 0, err
	}
	// Follow leader changes: a forwarded proposal waits on the leader it
	// was sent to, which may be deposed without answering (a leader whose
	// disk stalled is fenced and replaced, cluster/diskwatch.go). Once
	// this node sees another leader, give up on the old one and retry
	// through the new one (commands are idempotent).
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	leaderChanged := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-actx.Done():
				return
			case <-t.C:
				if _, now := n.Leader(); now != "" && now != addr {
					close(leaderChanged)
					cancel()
					return
				}
			}
		}
	}()
	resp, err := clusterpb.NewInternalClient(conn).Apply(actx, &clusterpb.ApplyRequest{Command: data, FromNode: n.cfg.NodeID})
	if err != nil {
		select {
		case <-leaderChanged:
			if ctx.Err() == nil {
				return nil, 0, fmt.Errorf("forwarded apply: leader %s was replaced: %w", addr, raft.ErrLeadershipLost)
			}
		default:
		}
		return nil, 0, err
	}
	var res fsmpb.ApplyResult
	if err := proto.Unmarshal(resp.Result, &res); err != nil {
		return nil, 0, fmt.Errorf("forwarded apply: bad result from %s: %w", addr, err)
	}
	return &res, resp.Index, nil
}

// internalServer serves the node-to-node gRPC service.
type internalServer struct {
	clusterpb.UnimplementedInternalServer
	n *Node
	// refusals thins out the log of refused calls, per peer address.
	refusals LogLimiter
}

// Apply takes a command a follower forwards. It serves only the commands
// followers make (forwardRule in forwardpolicy.go), each only about the
// peer itself when the cluster port knows the peer's node id; anything
// else is refused with PermissionDenied and logged with the peer.
func (s *internalServer) Apply(ctx context.Context, req *clusterpb.ApplyRequest) (*clusterpb.ApplyResponse, error) {
	peerID, verified := verifiedPeer(ctx)
	if err := checkForwarded(req.Command, peerID, verified && s.n.isMember(peerID)); err != nil {
		s.refused(ctx, "apply", peerID, req.FromNode, err)
		return nil, status.Errorf(codes.PermissionDenied, "forwarded command refused: %v", err)
	}
	if !s.n.IsLeader() {
		return nil, status.Error(codes.FailedPrecondition, "not the leader")
	}
	if err := s.n.fsm.Validate(req.Command); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "command from %s refused: %v", req.FromNode, err)
	}
	res, index, err := s.n.applyLocal(ctx, req.Command)
	if err != nil {
		if retryable(err) {
			return nil, status.Errorf(codes.Unavailable, "apply: %v", err)
		}
		return nil, status.Errorf(codes.Internal, "apply: %v", err)
	}
	b, err := proto.Marshal(res)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode result: %v", err)
	}
	return &clusterpb.ApplyResponse{Result: b, Index: index}, nil
}

// refused logs a refused call with its peer, at most once per peer
// address every 10 s (a stranger can provoke it at will).
func (s *internalServer) refused(ctx context.Context, call, peerID, claimed string, why error) {
	addr := peerAddr(ctx)
	ok, suppressed := s.refusals.Allow(peerHost(addr))
	if !ok {
		return
	}
	s.n.log.Warn("cluster port: call refused", "call", call, "peer_addr", addr, "peer_node", peerID,
		"claimed_node", claimed, "reason", why.Error(), "refused_since_last_line", suppressed)
}

// ReadIndex tells a follower how far the leader's log goes. It changes
// nothing; with peer identities, it answers only members of the cluster.
func (s *internalServer) ReadIndex(ctx context.Context, req *clusterpb.ReadIndexRequest) (*clusterpb.ReadIndexResponse, error) {
	if peerID, verified := verifiedPeer(ctx); verified && !s.n.isMember(peerID) {
		err := fmt.Errorf("node %s is not a member of the cluster", peerID)
		s.refused(ctx, "read_index", peerID, "", err)
		return nil, status.Errorf(codes.PermissionDenied, "read index refused: %v", err)
	}
	if req.CommitOnly {
		if !s.n.IsLeader() {
			return nil, status.Error(codes.FailedPrecondition, "read index: not the leader")
		}
		// The last index, not the commit index: see leaderCommitIndex.
		return &clusterpb.ReadIndexResponse{Index: s.n.raft.LastIndex(), Term: s.n.raft.CurrentTerm(), FsmIndex: s.n.fsm.AppliedIndex()}, nil
	}
	idx, err := s.n.leaderReadIndex(ctx)
	if err != nil {
		if retryable(err) {
			return nil, status.Errorf(codes.FailedPrecondition, "read index: %v", err)
		}
		return nil, status.Errorf(codes.Internal, "read index: %v", err)
	}
	return &clusterpb.ReadIndexResponse{Index: idx, Term: s.n.raft.CurrentTerm(), FsmIndex: s.n.fsm.AppliedIndex()}, nil
}

// leaderReadIndex, on the leader, waits for everything committed before it
// to be applied and returns the applied index.
func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, raft.ErrNotLeader
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := awaitFuture(ctx, n.raft.Barrier(timeout)); err != nil {
		return 0, err
	}
	return n.raft.AppliedIndex(), nil
}

// peerConns keeps one gRPC client connection per peer address.
type peerConns struct {
	m     *mux
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newPeerConns(m *mux) *peerConns { return &peerConns{m: m, conns: map[string]*grpc.ClientConn{}} }

func (p *peerConns) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		return p.m.dial(target, muxGRPC, timeout)
	}
	c, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS, when configured, is done by the mux dialer
		grpc.WithContextDialer(dial))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peerConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		c.Close()
		delete(p.conns, a)
	}
}

// ErrMaybeCommitted is returned when a proposal's outcome did not arrive
// before its deadline: it may still be committed (every haraft command is
// idempotent, so retrying is safe).
var ErrMaybeCommitted = errors.New("proposal outcome unknown (maybe committed)")

// awaitFuture waits for a raft future, but no longer than ctx. hashicorp/raft
// bounds only the enqueueing of an Apply or Barrier: an entry still queued
// in the (buffered, BatchApplyCh) apply channel when the node loses
// leadership or shuts down is never answered, and f.Error() would block
// forever. The abandoned waiter goroutine ends if raft ever answers.
func awaitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrMaybeCommitted, ctx.Err())
	}
}
