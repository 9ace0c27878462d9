// Package eipmover owns haraft's Elastic IP placement and the movers that
// carry it out — the half of haraft that replaces keepalived, Heartbeat and
// a notify script calling ec2-associate-address.
//
// The leader decides, commits, then acts:
//
//   - Place (placement.go) is the pure policy: each address has a home AZ
//     and lives on a healthy active node there, else on a standby in the
//     same AZ, else on any healthy node; a healthy holder keeps it (no
//     flapping, no failback unless Policy.AutoFailback); a pinned address
//     stays unless its holder is dead; ties break on the fewest addresses
//     held, then the sorted node id, so every leader computes the same.
//   - The Controller (controller.go) runs on every node and acts only while
//     it leads: it reads the replicated state (fsm) and the leader's view
//     of node liveness (cluster.Liveness), commits each decision as an
//     fsm AssignEIP stamped with its Raft term before any side effect, and
//     then, for a cloud Mover, reconciles the cloud with the committed
//     placement — only after VerifyLeader, and only from the association
//     it expects — with backoff on errors, repairing drift (an address
//     moved by hand) on every reconcile interval.
//   - Movers: EC2 (ec2.go) moves an Elastic IP with the real
//     aws-sdk-go-v2 client; VIP (vip_linux.go) adds and removes an
//     address on a Linux interface over netlink and announces it with
//     gratuitous ARP; with no mover the placement is only recorded.
//   - The Agent (agent.go) runs on every node: it reports the node's own
//     status (role, proxy health, cloud identity, the VIPs it holds) into
//     the replicated state, holds the node-local VIPs the committed
//     placement gives it, and fences itself — drops them — when it has
//     had no contact with a leader for longer than its lease, unless a
//     majority of nodes is in contact with it and none of them hears a
//     leader either (a leader died and the election is running: the
//     address stays up; cluster/contacts.go has the argument).
//   - The Guard (guard.go) is a process the node starts in its own session:
//     it drops the node's VIPs when the node process dies (kill -9, crash)
//     or stops running for its lease (SIGSTOP), which the Agent, inside
//     that process, cannot do.
//
// Node-local addresses (VIPs) are never held by two nodes at once: a move
// between two live nodes first commits a release and waits until the old
// holder reports it dropped the address; a holder the leader counts dead
// has been silent for longer than DeadAfter — to the leader and in every
// fresh report of a majority of peers — which is longer than its lease
// (plus up to two Raft leader leases for a holder that led, until Raft
// stepped it down), so it has already fenced itself — or its Guard has,
// if its process died or froze.
package eipmover
