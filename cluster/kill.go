package cluster

// Kill stops the node as a crash would, for fault-injection tests: no
// leadership transfer, Raft, the cluster port and the stores are simply
// closed, and peers notice through failed heartbeats and probes.
func (n *Node) Kill() error {
	var err error
	n.closed.Do(func() { err = n.closeResources() })
	return err
}
