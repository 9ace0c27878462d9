package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/proto/clusterpb"
)

// probeTimeout bounds ProbeNode when ctx has no earlier deadline.
const probeTimeout = 5 * time.Second

// ProbeNode checks that the cluster port at addr is haraft node id before
// it is added to the configuration: a Raft member that does not answer
// counts against the quorum at once, so a typo in an address (a port with
// nothing behind it, another service's port) must be refused, not
// proposed. The check is the one every cluster connection makes: with
// TLS, the handshake with the cluster CA's certificates and a certificate
// naming id; then an internal Ping, answered by haraft's internal service.
// A node not yet a member may refuse the Ping itself (its configuration
// does not hold this node): with TLS that refusal still comes from a node
// whose certificate proves it is id.
func (n *Node) ProbeNode(ctx context.Context, id, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var mu sync.Mutex
	var dialErr error
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		timeout := probeTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		c, err := n.mux.dialAs(target, muxGRPC, timeout, id)
		if err != nil {
			mu.Lock()
			dialErr = err
			mu.Unlock()
		}
		return c, err
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS, when configured, is done by the mux dialer
		grpc.WithContextDialer(dial))
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := clusterpb.NewInternalClient(conn).Ping(ctx, &clusterpb.PingRequest{FromNode: n.ID(), Term: n.raft.CurrentTerm()})
	switch {
	case err == nil && resp.NodeId == id:
		return nil
	case err == nil:
		return fmt.Errorf("the node at %s is %q, not %q", addr, resp.NodeId, id)
	case status.Code(err) == codes.PermissionDenied && n.mux.clientTLS != nil:
		return nil // a haraft node with id's certificate, that does not count us as a member yet
	}
	mu.Lock()
	defer mu.Unlock()
	if dialErr != nil {
		if errors.Is(dialErr, syscall.ECONNREFUSED) {
			return fmt.Errorf("nothing listens at %s: %w", addr, dialErr)
		}
		return fmt.Errorf("%s does not answer as a haraft node: %w", addr, dialErr)
	}
	return fmt.Errorf("%s does not answer as a haraft node: %s", addr, status.Convert(err).Message())
}
