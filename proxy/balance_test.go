package proxy

import (
	"fmt"
	"testing"
)

func servers(names ...string) []*Server {
	var out []*Server
	for _, n := range names {
		out = append(out, &Server{Name: n, Weight: 1})
	}
	return out
}

func TestRoundRobinWeights(t *testing.T) {
	ss := servers("A", "B", "C")
	ss[0].Weight, ss[1].Weight, ss[2].Weight = 1, 2, 0
	rr := &roundRobin{}
	count := map[string]int{}
	for i := 0; i < 300; i++ {
		count[rr.Pick(ss).Name]++
	}
	if count["A"] != 100 || count["B"] != 200 || count["C"] != 0 {
		t.Fatalf("weighted picks %v, want A=100 B=200 C=0", count)
	}
	if rr.Pick(nil) != nil {
		t.Fatal("pick from no servers")
	}
}

func TestRendezvousStableAndMinimal(t *testing.T) {
	all := servers("A", "B", "C", "D")
	moved, onRemoved := 0, 0
	for i := 0; i < 10000; i++ {
		key := fmt.Sprintf("session-%d", i)
		before := Rendezvous(key, all)
		if again := Rendezvous(key, servers("D", "C", "B", "A")); again.Name != before.Name {
			t.Fatalf("order of candidates changed the answer for %s", key)
		}
		after := Rendezvous(key, []*Server{all[0], all[1], all[3]}) // C removed
		if before.Name == "C" {
			onRemoved++
			continue
		}
		if after.Name != before.Name {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d sessions not on the removed server moved", moved)
	}
	if onRemoved < 2000 || onRemoved > 3000 {
		t.Fatalf("C held %d of 10000 sessions: hash is not spreading", onRemoved)
	}
	if Rendezvous("k", nil) != nil {
		t.Fatal("rendezvous over no servers")
	}
}
