//go:build integration && linux

package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/integration/nsharness"
)

// Randomized fault schedules over the namespace cluster: real haraftd
// processes, one namespace per node, a VIP kept on one node's eth0. Each
// schedule, derived from its seed, is a sequence of faults, one at a time
// for a random 0.5–2.5 s: kill -9 and restart, SIGSTOP/SIGCONT, link down,
// a partition from the other nodes, netem delay and loss, a backend killed
// and restarted. The nsharness checker follows sessions through every node
// throughout; after the last fault the cluster must be stable within
// nsChaosRecovery, every session must be routed alike by every node
// (finish), and two reachable nodes must never have held the VIP at once
// (the VIP monitor; the fencing lease is 2 s).
//
//	go test -tags integration -run TestNSChaos -count=1 ./integration/ -chaos.schedules 5
//	go test -tags integration -run TestNSChaos -count=1 ./integration/ -chaos.seed N     # replay
func TestNSChaos(t *testing.T) {
	seeds := chaosSeeds(1)
	failed := runSeeds(t, seeds, nsChaos)
	t.Logf("NS CHAOS SUMMARY schedules=%d failed=%d failed_seeds=%v", len(seeds), len(failed), failed)
}

// nsChaosRecovery bounds the time from the last fault's end to a stable
// cluster (a leader, every node caught up).
const nsChaosRecovery = 15 * time.Second

func nsChaos(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x45c4a05))
	t.Logf("ns chaos seed=%d steps=%d (replay: go test -tags integration -run TestNSChaos ./integration/ -chaos.seed=%d)", seed, *chaosSteps, seed)
	c, k := nsCluster(t, nsharness.ClusterSpec{VIP: testVIP, VIPLease: 2 * time.Second, Backends: []string{"A", "B", "C"}}, 60)
	var m *nsharness.VIPMonitor
	if _, err := c.WaitVIPHolder(ctxT(t, 15*time.Second), nil); err == nil {
		m = c.WatchVIP(10 * time.Millisecond)
	} else {
		t.Logf("no VIP holder (%v): running without the VIP checks", err)
	}
	k.Start(readers, writeEvery)
	time.Sleep(time.Second)

	var log []string
	logf := func(format string, args ...any) {
		line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
		log = append(log, line)
		t.Log(line)
	}
	defer func() {
		if t.Failed() {
			t.Logf("schedule of seed %d:\n  %s", seed, strings.Join(log, "\n  "))
		}
	}()
	hold := func() { time.Sleep(time.Duration(500+r.IntN(2000)) * time.Millisecond) }
	for step := 0; step < *chaosSteps; step++ {
		n := c.Nodes[r.IntN(len(c.Nodes))]
		switch r.IntN(6) {
		case 0: // kill -9, then start again
			k.Freeze(n)
			k.SetNodes(c.Others(n))
			logf("kill -9 %s: %v", n.ID, n.Kill())
			hold()
			logf("start %s: %v", n.ID, n.Start())
			rejoin(t, c, k, n)
		case 1: // frozen process
			k.Freeze(n)
			k.SetNodes(c.Others(n))
			logf("SIGSTOP %s: %v", n.ID, n.Proc().Stop())
			hold()
			logf("SIGCONT %s: %v", n.ID, n.Proc().Cont())
			rejoin(t, c, k, n)
		case 2: // link down: clients cannot reach it either
			k.Freeze(n)
			k.SetNodes(c.Others(n))
			if m != nil {
				m.CutOff(n, true)
			}
			logf("link down %s: %v", n.ID, n.LinkDown())
			hold()
			logf("link up %s: %v", n.ID, n.LinkUp())
			if m != nil {
				m.CutOff(n, false)
			}
			rejoin(t, c, k, n)
		case 3: // partitioned from the other nodes, clients still reach it
			k.Freeze(n)
			k.SetNodes(c.Others(n))
			heal, err := c.Env.Partition([]*nsharness.Host{n.Host}, nsharness.Hosts(c.Others(n)))
			logf("partition %s from the others: %v", n.ID, err)
			hold()
			if heal != nil {
				logf("heal partition of %s: %v", n.ID, heal())
			}
			rejoin(t, c, k, n)
		case 4: // a slow, lossy link
			delay := time.Duration(10+r.IntN(140)) * time.Millisecond
			loss := float64(r.IntN(15))
			logf("netem %s: delay %v loss %.0f%%: %v", n.ID, delay, loss, n.Netem(delay, loss))
			hold()
			logf("netem %s cleared: %v", n.ID, n.ClearNetem())
		case 5: // a backend dies and comes back
			b := c.Backends[r.IntN(len(c.Backends))]
			logs := c.LogOffsets()
			k.MarkDead(b.Name)
			logf("kill backend %s: %v", b.Name, b.Proc().Kill())
			hold()
			logf("start backend %s: %v", b.Name, b.Start())
			// It is back once agreed up again (if it was agreed down):
			// until then its sessions may go either way.
			time.Sleep(1500 * time.Millisecond)
			if _, err := c.WaitLog(ctxT(t, 100*time.Millisecond), logs, "agreed health committed", "server="+b.Name, "HEALTH_DOWN"); err == nil {
				for _, be := range []string{"backend=app ", "backend=appsync "} {
					if _, err := c.WaitLog(ctxT(t, 15*time.Second), logs, "agreed health committed", be, "server="+b.Name, "HEALTH_UP"); err != nil {
						t.Errorf("backend %s not agreed up again: %v", b.Name, err)
					}
				}
				time.Sleep(500 * time.Millisecond) // every node applies it
			}
			// Verify rebinds in the checker what moved while it was dead;
			// the readers pause meanwhile (a read in flight would compare
			// its answer with the binding Verify just replaced).
			k.Stop()
			if problems, moved := k.Verify(ctxT(t, 20*time.Second), c.Nodes); len(problems) > 0 {
				t.Errorf("after backend %s came back: %d problems: %v", b.Name, len(problems), first(problems, 10))
			} else {
				logf("backend %s back: %d sessions had moved", b.Name, moved)
			}
			k.MarkAlive(b.Name)
			k.Start(readers, writeEvery)
		}
		time.Sleep(time.Duration(200+r.IntN(800)) * time.Millisecond)
	}
	healed := time.Now()
	if _, err := c.WaitStable(ctxT(t, nsChaosRecovery), c.Nodes); err != nil {
		t.Errorf("not stable %v after the last fault: %v", nsChaosRecovery, err)
	} else {
		logf("stable %v after the last fault", time.Since(healed).Round(time.Millisecond))
	}
	if m != nil {
		if _, err := c.WaitVIPHolder(ctxT(t, nsChaosRecovery), nil); err != nil {
			t.Errorf("VIP after the last fault: %v", err)
		}
		m.Stop()
		if o := m.Overlaps(); len(o) > 0 {
			t.Errorf("two reachable nodes held the VIP at once, %d samples: %v", len(o), first(o, 10))
		}
	}
	time.Sleep(time.Second)
	finish(t, k, c.Nodes)
}
