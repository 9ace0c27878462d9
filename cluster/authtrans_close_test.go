package cluster

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestAuthTransportCloseWaitsForHeartbeats: Close returns only once no
// heartbeat is in Raft's handler, and refuses every later one. The node
// closes its store right after the transport: a heartbeat still in
// Raft's handler then would write the term to a closed store (a panic in
// hashicorp/raft, seen once in the daemon tests).
func TestAuthTransportCloseWaitsForHeartbeats(t *testing.T) {
	m := &mux{advertise: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7000}, done: make(chan struct{})}
	out := &raft.NetworkTransportConfig{Stream: raftLayer{newSubListener(m, make(chan net.Conn))}, MaxPool: 1, Timeout: time.Second, Logger: hclog.NewNullLogger()}
	tr := newAuthTransport(out, newSubListener(m, make(chan net.Conn)), &raftFence{conns: map[net.Conn]struct{}{}}, hclog.NewNullLogger(), quietLogger())
	in := &inboundPeer{id: "n2"}

	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	tr.SetHeartbeatHandler(func(rpc raft.RPC) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		rpc.Respond(&raft.AppendEntriesResponse{}, nil)
	})
	heartbeat := func() (raft.RPC, chan raft.RPCResponse) {
		ch := make(chan raft.RPCResponse, 1)
		return raft.RPC{Command: &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n2")}}, RespChan: ch}, ch
	}
	first, _ := heartbeat()
	go tr.heartbeat(in, first)
	<-entered

	closed := make(chan struct{})
	go func() { _ = tr.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a heartbeat was in Raft's handler")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed

	late, resp := heartbeat()
	tr.heartbeat(in, late)
	if r := <-resp; !errors.Is(r.Error, raft.ErrTransportShutdown) {
		t.Errorf("a heartbeat after Close got %v, want %v", r.Error, raft.ErrTransportShutdown)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Raft's handler ran %d times, want once (before Close)", n)
	}
}
