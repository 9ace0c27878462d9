//go:build linux

package eipmover

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

const vipPort = 8080

var vip = EIP{ID: "vip-web", Address: "198.18.0.100", HomeAZ: "a"}

func newVIPMover(t *testing.T, tn *testNet, member string) *VIP {
	t.Helper()
	m, err := NewVIP(VIPConfig{Interface: "eth0", NetnsPath: tn.path(member), GARPCount: 3, GARPInterval: 300 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// The VIP moves from one namespace to another; the client's next TCP
// connection to it reaches the new holder (gratuitous ARP updated the
// client's neighbour entry).
func TestVIPMoveBetweenNamespaces(t *testing.T) {
	tn := newTestNet(t, "n1", "n2", "cl")
	tn.serve("n1", vipPort)
	tn.serve("n2", vipPort)
	m1, m2 := newVIPMover(t, tn, "n1"), newVIPMover(t, tn, "n2")
	ctx := context.Background()
	target := vip.Address + ":8080"

	for i := 0; i < 2; i++ { // idempotent
		if err := m1.Hold(ctx, vip); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := tn.dial("cl", target, 3*time.Second); err != nil || got != "n1" {
		t.Fatalf("before the move: %q, %v", got, err)
	}
	moved := time.Now()
	for i := 0; i < 2; i++ {
		if err := m1.Release(ctx, vip); err != nil {
			t.Fatal(err)
		}
	}
	if err := m2.Hold(ctx, vip); err != nil {
		t.Fatal(err)
	}
	held := time.Since(moved)
	got, err := tn.dial("cl", target, 3*time.Second)
	if err != nil || got != "n2" {
		t.Fatalf("after the move the client reached %q (%v), want n2", got, err)
	}
	t.Logf("release + hold took %v; the next connection reached n2 %v after the move", held.Round(time.Microsecond), time.Since(moved).Round(time.Millisecond))
	for member, m := range map[string]*VIP{"n1": m1, "n2": m2} {
		on, err := m.Holding(ctx, vip)
		if err != nil {
			t.Fatal(err)
		}
		if on != (member == "n2") {
			t.Errorf("%s holding = %v", member, on)
		}
	}
}

// vipWatch samples, every couple of milliseconds, which namespaces hold
// the VIP, and records any instant at which two did.
type vipWatch struct {
	mu      sync.Mutex
	holders map[string]time.Time // member -> since when it holds (zero: not holding)
	firstOn map[string]time.Time
	lastOff map[string]time.Time
	overlap []string
	samples int
}

func watchVIP(t *testing.T, tn *testNet, members []string) (*vipWatch, func()) {
	w := &vipWatch{holders: map[string]time.Time{}, firstOn: map[string]time.Time{}, lastOff: map[string]time.Time{}}
	handles := map[string]*netlink.Handle{}
	for _, m := range members {
		ns, err := netns.GetFromPath(tn.path(m))
		if err != nil {
			t.Fatal(err)
		}
		h, err := netlink.NewHandleAt(ns)
		ns.Close()
		if err != nil {
			t.Fatal(err)
		}
		handles[m] = h
	}
	want := netip.MustParseAddr(vip.Address)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			now := time.Now()
			var on []string
			for _, m := range members {
				link, err := handles[m].LinkByName("eth0")
				if err != nil {
					continue
				}
				addrs, _ := handles[m].AddrList(link, netlink.FAMILY_V4)
				for _, a := range addrs {
					if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == want {
						on = append(on, m)
					}
				}
			}
			w.mu.Lock()
			w.samples++
			for _, m := range members {
				holding := false
				for _, o := range on {
					holding = holding || o == m
				}
				switch {
				case holding && w.holders[m].IsZero():
					w.holders[m] = now
					if w.firstOn[m].IsZero() {
						w.firstOn[m] = now
					}
				case !holding && !w.holders[m].IsZero():
					w.holders[m] = time.Time{}
					w.lastOff[m] = now
				}
			}
			if len(on) > 1 {
				w.overlap = append(w.overlap, now.Format("15:04:05.000000")+" "+on[0]+"+"+on[1])
			}
			w.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	return w, func() {
		close(stop)
		<-done
		for _, h := range handles {
			h.Close()
		}
	}
}

func (w *vipWatch) holding(m string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.holders[m].IsZero()
}

// The holder of a VIP is cut off from the leader (its cluster port turns
// into a black hole): it drops the VIP within its lease, the majority's
// leader then gives the VIP to the standby of the same AZ, and at no
// sampled instant do two namespaces hold it. The client then reaches the
// new holder; after the partition heals the old holder does not take the
// VIP back.
//
// The partition black-holes what reaches n1, not what n1 sends: if the
// others lose their leader meanwhile (a loaded machine), n1 can win an
// election over its own connections and the scenario is void; the test
// then starts over, up to three times.
func TestVIPFencingOnPartition(t *testing.T) {
	needNetns(t)
	untilNotVoid(t, vipPartition)
}

// untilNotVoid runs a scenario that returns why it was void ("" when it
// was not) up to three times.
func untilNotVoid(t *testing.T, scenario func(t *testing.T) string) {
	for attempt := 1; attempt <= 3; attempt++ {
		var void string
		if !t.Run(fmt.Sprintf("attempt %d", attempt), func(t *testing.T) { void = scenario(t) }) {
			return
		}
		if void == "" {
			return
		}
		t.Logf("attempt %d void: %s; starting over", attempt, void)
	}
	t.Fatal("three void attempts")
}

// vipOnFollower starts three nodes in namespaces (n1 and the standby n2 in
// AZ a, n3 in b) and a client, puts the VIP on n1 and leadership
// elsewhere, and returns the net, the VIP watch and the harness.
func vipOnFollower(t *testing.T, o harnessOpts) (*testNet, *vipWatch, *harness) {
	tn := newTestNet(t, "n1", "n2", "n3", "cl")
	members := []string{"n1", "n2", "n3"}
	for _, m := range members {
		tn.serve(m, vipPort)
	}
	movers := map[int]*VIP{}
	for i, m := range members {
		movers[i] = newVIPMover(t, tn, m)
	}
	w, stopWatch := watchVIP(t, tn, members)
	t.Cleanup(stopWatch)
	o.nodes = []nodeSpec{{id: "n1", az: "a"}, {id: "n2", az: "a", standby: true}, {id: "n3", az: "b"}}
	o.eips, o.kind = []EIP{vip}, "vip"
	o.local = func(i int) LocalMover { return movers[i] }
	h := settledHarness(t, o, map[string]string{vip.ID: "n1"})
	h.waitFor("n1 serving the VIP", 20*time.Second, func() bool { return w.holding("n1") })
	if h.leader() == h.index("n1") {
		h.transferLeadership(h.index("n3"))
	}
	return tn, w, h
}

// vipPartition runs the scenario once; it returns why it was void, or "".
func vipPartition(t *testing.T) string {
	// dead_after leaves the holder's lease a wide margin: lease-based
	// fencing assumes the holder's agent gets the CPU within the margin.
	const lease, deadAfter = 400 * time.Millisecond, 1500 * time.Millisecond
	tn, w, h := vipOnFollower(t, harnessOpts{lease: lease, deadAfter: deadAfter, raftTimeout: 100 * time.Millisecond})
	if got, err := tn.dial("cl", vip.Address+":8080", 3*time.Second); err != nil || got != "n1" {
		t.Fatalf("before the partition the client reached %q (%v)", got, err)
	}

	cut := time.Now()
	h.nodes[0].ln.freeze()
	var n1Led atomic.Bool
	for deadline := time.Now().Add(30 * time.Second); !w.holding("n2"); time.Sleep(time.Millisecond) {
		if h.nodes[0].node.IsLeader() {
			n1Led.Store(true)
		}
		if time.Now().After(deadline) {
			if n1Led.Load() {
				return "the partitioned node was elected over its outbound connections"
			}
			t.Fatal("timed out waiting for n2 to serve the VIP")
		}
	}
	time.Sleep(50 * time.Millisecond)
	w.mu.Lock()
	dropped, taken, overlap, samples := w.lastOff["n1"].Sub(cut), w.firstOn["n2"].Sub(cut), w.overlap, w.samples
	w.mu.Unlock()
	t.Logf("partition -> n1 dropped the VIP: %v (lease %v); -> n2 took it: %v (dead_after %v); %d samples",
		dropped.Round(time.Millisecond), lease, taken.Round(time.Millisecond), deadAfter, samples)
	if len(overlap) > 0 {
		t.Fatalf("two holders at once: %v", overlap)
	}
	if dropped <= 0 || dropped > deadAfter {
		t.Errorf("n1 dropped the VIP %v after the partition; lease %v", dropped, lease)
	}
	if taken <= dropped {
		t.Errorf("n2 took the VIP (%v) before n1 dropped it (%v)", taken, dropped)
	}
	if got, err := tn.dial("cl", vip.Address+":8080", 3*time.Second); err != nil || got != "n2" {
		t.Fatalf("after the failover the client reached %q (%v), want n2", got, err)
	}

	// Heal: n1 catches up and stays off the VIP. Heartbeats reach it at
	// once, but the leader's replication to it backs off on failure (10 ms
	// doubling to 10.24 s in hashicorp/raft): on a busy machine the
	// entries n1 missed may arrive only ~10 s after the heal, and n1 stays
	// fenced until it has them.
	h.nodes[0].ln.heal()
	h.waitFor("n1 back in contact", 30*time.Second, func() bool { return !h.nodes[0].agent.Fenced() })
	time.Sleep(500 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.overlap) > 0 {
		t.Fatalf("two holders at once after healing: %v", w.overlap)
	}
	if !w.holders["n1"].IsZero() || w.holders["n2"].IsZero() {
		t.Fatalf("after healing: n1 holding %v, n2 holding %v", !w.holders["n1"].IsZero(), !w.holders["n2"].IsZero())
	}
	return ""
}

// The leader dies while a follower holds the VIP, and the election takes
// longer than the holder's lease: the holder keeps the address throughout
// (its peers are in contact and none hears a leader), the client keeps
// reaching it, and no other node ever holds it. Before contact reports, the
// holder fenced itself at its lease and the address had no holder until it
// heard from the new leader.
func TestVIPKeptThroughLeaderDeath(t *testing.T) {
	needNetns(t)
	untilNotVoid(t, vipLeaderDeath)
}

func vipLeaderDeath(t *testing.T) string {
	// A lease shorter than an election with 500 ms Raft timeouts (a
	// follower notices a silent leader after 500-1000 ms), and contact
	// reports every 50 ms: an answer counts once it is 150 ms old, so the
	// lease's window (360 ms) holds several, and a ping may take 150 ms on
	// a busy machine before it counts as lost.
	const lease, deadAfter = 400 * time.Millisecond, 1500 * time.Millisecond
	tn, w, h := vipOnFollower(t, harnessOpts{lease: lease, deadAfter: deadAfter, raftTimeout: 500 * time.Millisecond,
		contactInterval: 50 * time.Millisecond})
	old := h.leader()
	time.Sleep(100 * time.Millisecond) // contact reports under the settled leader

	killed := time.Now()
	h.kill(old)
	var elected time.Time
	h.waitFor("a new leader", 10*time.Second, func() bool {
		for i, n := range h.nodes {
			if i != old && n.node.IsLeader() {
				elected = time.Now()
				return true
			}
		}
		return false
	})
	// Past the election, the holder's contact with the new leader, and
	// any move a wrong view of n1 would cause.
	time.Sleep(deadAfter)
	a := h.nodes[0].agent.Counters()
	w.mu.Lock()
	lastOff, overlap, samples := w.lastOff["n1"], w.overlap, w.samples
	w.mu.Unlock()
	t.Logf("leader %s killed; new leader after %v; n1's agent: %d extensions, %d fences; %d samples",
		h.nodes[old].spec.id, elected.Sub(killed).Round(time.Millisecond), a.Extensions.Load(), a.Fences.Load(), samples)
	if len(overlap) > 0 {
		t.Fatalf("two holders at once: %v", overlap)
	}
	if lastOff.After(killed) {
		t.Fatalf("n1 dropped the VIP %v after the leader died (lease %v, new leader after %v)",
			lastOff.Sub(killed).Round(time.Millisecond), lease, elected.Sub(killed).Round(time.Millisecond))
	}
	if !w.holding("n1") {
		t.Fatal("n1 does not hold the VIP")
	}
	if got, err := tn.dial("cl", vip.Address+":8080", 3*time.Second); err != nil || got != "n1" {
		t.Fatalf("after the election the client reached %q (%v), want n1", got, err)
	}
	if a.Extensions.Load() == 0 {
		return fmt.Sprintf("the election took %v, within the lease: nothing to show", elected.Sub(killed).Round(time.Millisecond))
	}
	return ""
}
