// Package discover finds a backend's servers outside the config file —
// EC2 instances by tag (DescribeInstances), DNS A or SRV records — and,
// on the Raft leader, keeps the replicated server table equal to what it
// finds, one committed step at a time (fsm discover_servers), so every
// node switches at the same log index.
//
// A Source answers "which targets are there now"; a Loop polls one Source
// for one backend on the leader and commits the difference: new targets
// are added, vanished ones are deregistered (no new sessions, sticky ones
// stay, as a drained server's) and removed once the deregistration delay
// has passed by the leader's clock (the start is replicated, so a new
// leader keeps counting), targets back before their removal are restored.
// An error of the source (throttling, credentials, a timeout) or an empty
// answer while servers are up changes nothing and is reported; no step
// deregisters more than MaxRemoveShare of the backend's discovered
// servers.
//
// The package imports fsm and the AWS SDK, never proxy or cluster: the
// loop reaches Raft through the Commit and IsLeader functions it is given.
package discover
