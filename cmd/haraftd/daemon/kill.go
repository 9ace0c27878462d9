package daemon

import (
	"context"
	"errors"
	"fmt"
)

// Kill stops the node as a crash would, for fault tests: Raft and the
// cluster port go first with no leadership transfer and no flush of queued
// bindings, then every listener is closed at once.
func (d *Daemon) Kill() error {
	var errs []error
	d.shutdown.Do(func() {
		errs = append(errs, d.node.Kill())
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		d.closeSockets()
		for _, f := range d.Frontends() {
			_ = f.Shutdown(cancelled) // a cancelled context closes connections at once
		}
		d.stopLearn()
		d.cancel()
		errs = append(errs, d.closeAll())
	})
	return errors.Join(errs...)
}

// KillNode crashes node i (see Daemon.Kill).
func (c *DevCluster) KillNode(i int) error {
	d := c.Nodes[i]
	if d == nil {
		return fmt.Errorf("n%d already stopped", i+1)
	}
	c.Nodes[i] = nil
	return d.Kill()
}
