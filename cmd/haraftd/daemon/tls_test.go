package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/fsm"
)

// TestClusterPortRefusesStrangers proves that a node without a certificate
// from the cluster's CA can neither talk to the cluster port (Raft or the
// internal RPCs) nor receive the log when it is added to the
// configuration.
func TestClusterPortRefusesStrangers(t *testing.T) {
	c := opsTestCluster(t)
	dir := t.TempDir()
	other, err := certs.NewCA("intruder CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteCA(dir, "ca.pem"); err != nil {
		t.Fatal(err)
	}
	intruderFiles, err := other.IssueNode(dir, "n4")
	if err != nil {
		t.Fatal(err)
	}
	_, intruderClient, err := certs.Cluster(intruderFiles)
	if err != nil {
		t.Fatal(err)
	}
	_, memberClient, err := certs.Cluster(c.Security.TLS.Nodes["n1"])
	if err != nil {
		t.Fatal(err)
	}
	// haraftctl's certificate: signed by the cluster CA, but no node's.
	_, adminClient, err := certs.Cluster(c.Security.TLS.Client)
	if err != nil {
		t.Fatal(err)
	}
	// A stranger that does trust our CA but holds its own certificate:
	// refused by the node's check of the client certificate.
	trusting := intruderClient.Clone()
	trusting.VerifyConnection = nil // InsecureSkipVerify stays: it accepts the node
	target := c.Nodes[0].Node().Addr()

	// dial speaks to the cluster port as the mux expects: a selector byte,
	// then TLS (or nothing), then reads; ok means the port answered.
	dial := func(sel byte, conf *tls.Config) error {
		conn, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte{sel}); err != nil {
			return err
		}
		if conf == nil {
			// Plaintext: send an HTTP/2 preface as gRPC would; a TLS port
			// answers with a TLS alert or closes.
			_, _ = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
			b := make([]byte, 64)
			n, err := conn.Read(b)
			if err != nil {
				return err
			}
			if n > 0 && b[0] == 0x15 { // TLS alert record
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		tc := tls.Client(conn, conf)
		if err := tc.Handshake(); err != nil {
			return err
		}
		// TLS 1.3: the server's verdict on our certificate comes with the
		// first read. gRPC's server speaks first (SETTINGS); Raft's waits,
		// so silence until the deadline means accepted. The deadline is
		// long enough for a refusal to arrive on a very busy machine (a
		// late alert would read as "accepted").
		_ = tc.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = tc.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return err
	}
	for _, tc := range []struct {
		name string
		sel  byte
		conf *tls.Config
		ok   bool
	}{
		{"member reads the internal RPCs", 'G', memberClient, true},
		{"member reaches Raft", 'R', memberClient, true},
		{"stranger's RPC connection refused", 'G', intruderClient, false},
		{"stranger's Raft connection refused", 'R', intruderClient, false},
		{"stranger trusting our CA is refused by Raft", 'R', trusting, false},
		{"stranger trusting our CA is refused by the RPCs", 'G', trusting, false},
		{"plaintext RPC connection refused", 'G', nil, false},
		{"admin client certificate of our CA refused by Raft", 'R', adminClient, false},
		{"admin client certificate of our CA refused by the RPCs", 'G', adminClient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dial(tc.sel, tc.conf)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("accepted")
			}
		})
	}

	// A stranger added to the configuration receives nothing: the leader
	// will not talk to a server whose certificate its CA did not sign.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, cliTLS, err := certs.Cluster(intruderFiles)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cc := cluster.Config{NodeID: "n4", Listener: ln, DataDir: t.TempDir(), FSM: fsm.New(log), Logger: log, RaftLogLevel: "off",
		ServerTLS: srvTLS, ClientTLS: cliTLS}
	cluster.FastTimeouts(&cc)
	stranger, err := cluster.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Shutdown(context.Background())

	// A configuration change fails when leadership moves while it
	// commits (a loaded machine holds elections even at these timeouts):
	// find the leader again and retry.
	onLeader := func(what string, change func(r *raft.Raft) raft.Future) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, d := range c.Nodes {
				if d.Node().IsLeader() {
					if err = change(d.Node().Raft()).Error(); err == nil {
						return
					}
				}
			}
			if err != nil && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrNotLeader) {
				t.Fatalf("%s: %v", what, err)
			}
		}
		t.Fatalf("%s: no leader took it within 30s (last: %v)", what, err)
	}
	onLeader("add the stranger", func(r *raft.Raft) raft.Future {
		return r.AddNonvoter("n4", raft.ServerAddress(stranger.Addr()), 0, 5*time.Second)
	})
	time.Sleep(time.Second)
	if n, idx := stranger.FSM().SessionCount(), stranger.FSM().AppliedIndex(); n != 0 || idx != 0 {
		t.Fatalf("the stranger received the log: %d sessions, applied index %d", n, idx)
	}
	onLeader("remove the stranger", func(r *raft.Raft) raft.Future { return r.RemoveServer("n4", 0, 5*time.Second) })
}
