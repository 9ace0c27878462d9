// Package integration holds haraft's multi-node tests. The in-process tests
// (this package's default tests) run three real nodes in one process — real
// Raft over loopback TCP, real boltdb files, real HTTP proxies and demo
// backends — through cmd/haraftd/daemon's dev cluster with 50 ms Raft
// timeouts. Heavier multi-process and network-namespace tests sit behind the
// `integration` build tag.
package integration
