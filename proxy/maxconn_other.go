//go:build !linux

package proxy

import "net"

// pendingWaiter is Linux only: elsewhere a frontend waiting in accept
// holds a slot of the global maxconn (see limitListener).
type pendingWaiter struct{}

func newPendingWaiter(net.Listener) *pendingWaiter { return nil }
func (w *pendingWaiter) wait() error               { return nil }
func (w *pendingWaiter) close()                    {}
