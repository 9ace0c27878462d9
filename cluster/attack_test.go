package cluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/fsm"
)

const forgedTerm = 1_000_000

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pki is a cluster CA with node certificates, another CA, and an admin
// client certificate of the cluster CA.
type pki struct {
	nodes  map[string]certs.Files
	client certs.Files // cluster CA, no node identity
	other  certs.Files // another CA's certificate for "n2"
}

func newPKI(t *testing.T, ids ...string) pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA("cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteCA(dir, "ca.pem"); err != nil {
		t.Fatal(err)
	}
	p := pki{nodes: map[string]certs.Files{}}
	for _, id := range ids {
		if p.nodes[id], err = ca.IssueNode(dir, id); err != nil {
			t.Fatal(err)
		}
	}
	if p.client, err = ca.Issue(dir, "haraftctl"); err != nil {
		t.Fatal(err)
	}
	odir := t.TempDir()
	other, err := certs.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteCA(odir, "ca.pem"); err != nil {
		t.Fatal(err)
	}
	if p.other, err = other.IssueNode(odir, "n2"); err != nil {
		t.Fatal(err)
	}
	return p
}

// startCluster starts three nodes on loopback, over mutual TLS when p is
// not nil, and waits for a leader.
func startCluster(t *testing.T, p *pki) []*cluster.Node {
	t.Helper()
	ids := []string{"n1", "n2", "n3"}
	var lns []net.Listener
	var peers []cluster.Peer
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, cluster.Peer{ID: id, Addr: ln.Addr().String()})
	}
	nodes := make([]*cluster.Node, len(ids))
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.Shutdown(context.Background())
			}
		}
	})
	for i, id := range ids {
		cfg := cluster.Config{NodeID: id, Listener: lns[i], DataDir: t.TempDir(), Peers: peers, Bootstrap: true,
			FSM: fsm.New(quiet()), Logger: quiet(), RaftLogLevel: "off"}
		// Timeouts that survive a busy test machine: this test is about
		// terms, and spurious elections would blur them.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout, cfg.CommitTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond, 5*time.Millisecond
		if p != nil {
			var err error
			if cfg.ServerTLS, cfg.ClientTLS, err = certs.Cluster(p.nodes[id]); err != nil {
				t.Fatal(err)
			}
		}
		n, err := cluster.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// attackerLayer dials a node's cluster port as the mux expects (the Raft
// selector byte, then TLS when conf is set). It accepts nothing.
type attackerLayer struct {
	conf *tls.Config
	done chan struct{}
}

func (l attackerLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{'R'}); err != nil {
		c.Close()
		return nil, err
	}
	if l.conf == nil {
		return c, nil
	}
	tc := tls.Client(c, l.conf)
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

func (l attackerLayer) Accept() (net.Conn, error) { <-l.done; return nil, net.ErrClosed }
func (l attackerLayer) Close() error              { return nil }
func (l attackerLayer) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// attackerTLS presents f's certificate (none when f is empty) and trusts
// any server: the attacker wants in, whatever the node is.
func attackerTLS(t *testing.T, f certs.Files) *tls.Config {
	t.Helper()
	c := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the attacker's side
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// forge sends target an AppendEntries from a "leader" claiming id, with
// term 1,000,000, through hashicorp/raft's own transport client.
func forge(target *cluster.Node, conf *tls.Config, claim string) error {
	done := make(chan struct{})
	defer close(done)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: attackerLayer{conf: conf, done: done}, MaxPool: 1, Timeout: 3 * time.Second,
	})
	defer trans.Close()
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte(claim), Addr: []byte("127.0.0.1:1")},
		Term:      forgedTerm, LeaderCommitIndex: 0,
	}
	var resp raft.AppendEntriesResponse
	if err := trans.AppendEntries(raft.ServerID(target.ID()), raft.ServerAddress(target.Addr()), req, &resp); err != nil {
		return err
	}
	if !resp.Success && resp.Term < forgedTerm {
		return fmt.Errorf("answered, not followed (term %d)", resp.Term)
	}
	return nil
}

func follower(t *testing.T, nodes []*cluster.Node) *cluster.Node {
	t.Helper()
	for _, n := range nodes {
		if !n.IsLeader() {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

func maxTerm(nodes []*cluster.Node) uint64 {
	var m uint64
	for _, n := range nodes {
		m = max(m, n.Raft().CurrentTerm())
	}
	return m
}

// TestForgedAppendEntries sends a follower an AppendEntries with term
// 1,000,000 from strangers and from an impostor. Over mutual TLS with node
// identities every one fails and no node's term moves near it; on a plain
// cluster port (what the README's real-cluster sample used to run) the
// same RPC is followed, which shows the attack is real.
func TestForgedAppendEntries(t *testing.T) {
	p := newPKI(t, "n1", "n2", "n3")
	secure := startCluster(t, &p)
	for _, tc := range []struct {
		name  string
		conf  *tls.Config
		claim string
		want  string // in the error
	}{
		{"plain TCP stranger", nil, "n9", ""},
		{"TLS without a certificate", attackerTLS(t, certs.Files{}), "n9", ""},
		{"certificate of another CA", attackerTLS(t, p.other), "n2", ""},
		{"admin client certificate of the cluster CA", attackerTLS(t, p.client), "n9", ""},
		{"node2's certificate claiming to be node3", attackerTLS(t, p.nodes["n2"]), "n3", "not the node its certificate names"},
		{"node2's certificate claiming a stranger", attackerTLS(t, p.nodes["n2"]), "n9", "not the node its certificate names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := follower(t, secure)
			err := forge(target, tc.conf, tc.claim)
			if err == nil {
				t.Fatal("the follower took the forged AppendEntries")
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if m := maxTerm(secure); m >= forgedTerm {
				t.Fatalf("a node's term is now %d", m)
			}
		})
	}
	if m := maxTerm(secure); m >= forgedTerm {
		t.Fatalf("term %d after the attacks", m)
	}
	for _, n := range secure {
		if n.Insecure() {
			t.Errorf("%s reports an insecure cluster port", n.ID())
		}
	}

	t.Run("plain cluster port follows the forger", func(t *testing.T) {
		plain := startCluster(t, nil)
		target := follower(t, plain)
		if err := forge(target, nil, "n9"); err != nil {
			t.Fatalf("a plain cluster port refused it: %v (the positive control of this test)", err)
		}
		if got := target.Raft().CurrentTerm(); got < forgedTerm {
			t.Fatalf("the follower's term is %d after a forged term %d was accepted", got, forgedTerm)
		}
	})
}

// TestImpostorAtMemberAddress: a process at node 3's address holding node
// 2's valid certificate gets no Raft RPC from the leader: the leader's
// dial checks that the certificate names the member at that address.
func TestImpostorAtMemberAddress(t *testing.T) {
	p := newPKI(t, "n1", "n2", "n3")
	nodes := startCluster(t, &p)
	n3 := nodes[2]
	addr := n3.Addr()
	if err := n3.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, _, err := certs.Cluster(p.nodes["n2"])
	if err != nil {
		t.Fatal(err)
	}
	type visit struct {
		handshake bool
		rpcBytes  int
	}
	visits := make(chan visit, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(3 * time.Second))
				var sel [1]byte
				if _, err := io.ReadFull(c, sel[:]); err != nil || sel[0] != 'R' {
					return
				}
				tc := tls.Server(c, srv)
				if err := tc.Handshake(); err != nil {
					visits <- visit{}
					return
				}
				n, _ := io.Copy(io.Discard, tc) // until the dialer hangs up or the deadline
				visits <- visit{handshake: true, rpcBytes: int(n)}
			}()
		}
	}()
	handshakes := 0
	for deadline := time.Now().Add(10 * time.Second); handshakes < 3 && time.Now().Before(deadline); {
		select {
		case v := <-visits:
			if v.rpcBytes > 0 {
				t.Fatalf("the leader sent the impostor %d bytes of Raft RPCs", v.rpcBytes)
			}
			if v.handshake {
				handshakes++
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if handshakes == 0 {
		t.Fatal("the leader never dialled the impostor: the test proves nothing")
	}
}
