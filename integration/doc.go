// Package integration holds haraft's multi-node tests. The in-process tests
// (this package's default tests) run three real nodes in one process — real
// Raft over loopback TCP, real boltdb files, real HTTP proxies and demo
// backends — through cmd/haraftd/daemon's dev cluster with 50 ms Raft
// timeouts. Heavier multi-process and network-namespace tests sit behind the
// `integration` build tag.
//
// The network-namespace tests (TestNS*, nsharness) run real haraftd
// processes, one namespace per node, under kill -9, SIGSTOP, link down,
// partitions and loss. ns_tcp_test.go is the mode tcp failover: 500
// long-lived connections from 500 source addresses through the VIP, stuck
// on source; the VIP's holder is killed and every client must reconnect
// through the new holder to its old server, with the bindings committed on
// every node beforehand, while connections to other nodes live on.
package integration
