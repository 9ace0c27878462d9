package cluster_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/proto/clusterpb"
)

// TestTrafficMembersOnly: a member reads a peer's traffic counters over
// the cluster port; a node certificate of the cluster CA whose node is not
// a member, a certificate of the cluster CA naming no node, another CA's
// certificate and no certificate at all are refused.
func TestTrafficMembersOnly(t *testing.T) {
	p := newPKI(t, "n1", "n2", "n3", "n4")
	nodes := startCluster(t, &p)
	n1, n2 := nodes[0], nodes[1]
	n2.SetTrafficSource(func() []*clusterpb.FrontendTraffic {
		return []*clusterpb.FrontendTraffic{{Name: "web", Requests: 42, Responses_5Xx: 3, CurrentConnections: 2, BytesIn: 100, BytesOut: 200}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n1.PeerTraffic(ctx, "n2", n2.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Frontends) != 1 || resp.Frontends[0].Requests != 42 || resp.NodeId != "n2" {
		t.Fatalf("n2's traffic: %v", resp)
	}
	// Asked for n3 at n2's address: n2's certificate does not name n3.
	if _, err := n1.PeerTraffic(ctx, "n3", n2.Addr()); err == nil {
		t.Fatal("n2 answered as n3")
	}

	// A node of the cluster CA that is not a member: through TLS, refused
	// by the call.
	_, n4client, err := certs.Cluster(p.nodes["n4"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.PeerClient(t, n2.Addr(), n4client).Traffic(ctx, &clusterpb.TrafficRequest{FromNode: "n4"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("non-member n4: %v, want PermissionDenied", err)
	}
	// The same call from a member's certificate works (the client above is
	// sound, only its identity is refused).
	_, n3client, err := certs.Cluster(p.nodes["n3"])
	if err != nil {
		t.Fatal(err)
	}
	if r, err := cluster.PeerClient(t, n2.Addr(), n3client).Traffic(ctx, &clusterpb.TrafficRequest{FromNode: "n3"}); err != nil || len(r.Frontends) != 1 {
		t.Fatalf("member n3: %v, %v", r, err)
	}

	for name, f := range map[string]certs.Files{"cluster CA, no node": p.client, "other CA": p.other, "no certificate": {}} {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := cluster.PeerClient(t, n2.Addr(), attackerTLS(t, f)).Traffic(cctx, &clusterpb.TrafficRequest{FromNode: "n2"})
		ccancel()
		if err == nil {
			t.Fatalf("%s: answered", name)
		}
		if status.Code(err) == codes.OK || status.Code(err) == codes.PermissionDenied {
			// PermissionDenied would mean the handshake went through.
			t.Fatalf("%s: %v, want the connection refused", name, err)
		}
	}
}
