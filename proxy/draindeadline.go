package proxy

import "github.com/haraft/haraft/fsm"

// A drain with a deadline (haraftctl drain B/S --deadline 5m) lets the
// server's connections run until the deadline; then every node closes
// those still open: mode tcp connections (TCPFrontend.CloseServer),
// upgraded (WebSocket) tunnels and idle pooled server connections
// (Backend.CloseServerConns). Requests in flight end with their response.

// CloseServerConns closes this node's upgraded (WebSocket) tunnels and
// idle keep-alive connections to server name of b under table t, and
// returns how many.
func (b *Backend) CloseServerConns(t *fsm.ServerTable, name string) int {
	n := 0
	for _, s := range b.ServersFor(t) {
		if s.Name == name && s.serverRuntime != nil && s.pool != nil {
			n += s.pool.CloseTunnels() + s.pool.CloseIdle(false)
		}
	}
	return n
}

// CountDrainClosed counts n connections to the server closed at its drain
// deadline.
func (c *serverCounters) CountDrainClosed(n int) {
	if n > 0 {
		c.drainClosed.Add(uint64(n))
	}
}
