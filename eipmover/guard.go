package eipmover

// The VIP guard: a small process the node starts from its own binary that
// drops the node's VIPs when the node process dies or stops running.
//
// A VIP is an address on the kernel's interface: a haraftd killed with
// SIGKILL, crashed or frozen (SIGSTOP) on a live machine leaves it there,
// and the kernel keeps answering for it after the leader has given the VIP
// to another node — two holders, as keepalived shows after every kill of
// its MASTER. The agent's own fencing cannot help, since it runs in the
// dead process. The guard, in its own session (a signal to the node's
// process group does not reach it), reads a heartbeat byte the node writes
// every lease/10 on a pipe:
//
//   - end of file (the node's process is gone, whatever killed it): it
//     drops every configured VIP and exits;
//   - no byte for the lease (the node is frozen): it drops every
//     configured VIP and keeps waiting. A node frozen for its lease would
//     have fenced itself had it run; when it runs again its agent fences
//     itself (Agent.Recheck: a leader frozen meanwhile still believes it
//     leads), re-reads the interface, catches up with the leader, and
//     only then takes back what it still should hold.
//
// A dead or frozen holder thus drops its VIPs within its lease, as a live
// one cut off from the leader does, before the leader's dead_after hands
// them on.

import (
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Environment of a guard process.
const (
	guardEnv      = "HARAFT_VIP_GUARD"       // "1" in a guard process
	guardIfEnv    = "HARAFT_VIP_GUARD_IF"    // the interface
	guardAddrsEnv = "HARAFT_VIP_GUARD_ADDRS" // comma-separated addresses
	guardLeaseEnv = "HARAFT_VIP_GUARD_LEASE" // a Go duration
	guardNetnsEnv = "HARAFT_VIP_GUARD_NETNS" // VIPConfig.NetnsPath, if any
)

var guardSupported atomic.Bool

// GuardMain makes this binary able to run as a VIP guard: call it first
// in main. In a guard process it runs the guard and exits; otherwise it
// returns at once. A binary whose main does not call it (a test binary)
// starts no guard.
func GuardMain() {
	guardSupported.Store(true)
	if os.Getenv(guardEnv) != "1" {
		return
	}
	lease, err := time.ParseDuration(os.Getenv(guardLeaseEnv))
	if err != nil || lease <= 0 {
		lease = 2 * time.Second
	}
	var addrs []string
	for _, a := range strings.Split(os.Getenv(guardAddrsEnv), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	os.Exit(runGuard(os.Getenv(guardIfEnv), os.Getenv(guardNetnsEnv), addrs, lease))
}

// GuardSupported reports whether this binary can run a VIP guard (its
// main called GuardMain).
func GuardSupported() bool { return guardSupported.Load() }
