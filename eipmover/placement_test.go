package eipmover

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func node(id, az string, opts ...string) Candidate {
	c := Candidate{ID: id, AZ: az, Alive: true, ProxyUp: true, Reachable: true}
	for _, o := range opts {
		switch {
		case o == "standby":
			c.Standby = true
		case o == "dead":
			c.Alive = false
		case o == "unconfirmed":
			c.Unconfirmed = true
		case o == "proxydown":
			c.ProxyUp = false
		case o == "unreachable":
			c.Reachable = false
		case strings.HasPrefix(o, "holds="):
			c.Holding = append(c.Holding, strings.TrimPrefix(o, "holds="))
		}
	}
	return c
}

func TestPlace(t *testing.T) {
	web := EIP{ID: "eip-web", Address: "198.51.100.7", HomeAZ: "a"}
	api := EIP{ID: "eip-api", Address: "198.51.100.8", HomeAZ: "a"}
	for _, tc := range []struct {
		name    string
		eips    []EIP
		current map[string]Current
		nodes   []Candidate
		policy  Policy
		want    map[string]string // eip id -> holder
		commit  map[string]bool
		reason  string // substring of the first decision's reason
		waiting bool
	}{
		{name: "unassigned goes to the active node of its home AZ",
			nodes: []Candidate{node("n1", "b"), node("n2", "a", "standby"), node("n3", "a")},
			want:  map[string]string{"eip-web": "n3"}, commit: map[string]bool{"eip-web": true}, reason: "active node in the home AZ"},
		{name: "home active dead: the standby of the home AZ",
			nodes: []Candidate{node("n1", "b"), node("n2", "a", "standby"), node("n3", "a", "dead")},
			want:  map[string]string{"eip-web": "n2"}, commit: map[string]bool{"eip-web": true}, reason: "standby in the home AZ"},
		{name: "nothing healthy at home: any healthy node, actives first",
			nodes: []Candidate{node("n1", "b", "standby"), node("n2", "c"), node("n3", "a", "proxydown")},
			want:  map[string]string{"eip-web": "n2"}, commit: map[string]bool{"eip-web": true}, reason: "active node in another AZ"},
		{name: "only a standby elsewhere",
			nodes: []Candidate{node("n1", "b", "standby"), node("n3", "a", "dead")},
			want:  map[string]string{"eip-web": "n1"}, commit: map[string]bool{"eip-web": true}},
		{name: "ties break on the smallest id",
			nodes: []Candidate{node("n9", "a"), node("n10", "a"), node("n2", "a")},
			want:  map[string]string{"eip-web": "n10"}, commit: map[string]bool{"eip-web": true}},
		{name: "two addresses of one AZ spread over its two actives",
			eips:  []EIP{web, api},
			nodes: []Candidate{node("n1", "a"), node("n2", "a")},
			want:  map[string]string{"eip-api": "n1", "eip-web": "n2"}, commit: map[string]bool{"eip-api": true, "eip-web": true}},
		{name: "a full node takes no more (EC2: one address per private IP)",
			eips:  []EIP{web, api},
			nodes: []Candidate{{ID: "n1", AZ: "a", Alive: true, ProxyUp: true, Reachable: true, Capacity: 1}, node("n2", "b")},
			want:  map[string]string{"eip-api": "n1", "eip-web": "n2"}, commit: map[string]bool{"eip-api": true, "eip-web": true}},
		{name: "a node a new leader has not heard from yet gets nothing new",
			nodes: []Candidate{node("n1", "b"), node("n3", "a", "unconfirmed")},
			want:  map[string]string{"eip-web": "n1"}, commit: map[string]bool{"eip-web": true}},
		{name: "an unconfirmed holder keeps its address",
			current: map[string]Current{"eip-web": {Holder: "n3"}},
			nodes:   []Candidate{node("n1", "a"), node("n3", "b", "unconfirmed")},
			want:    map[string]string{"eip-web": "n3"}},
		{name: "a healthy holder away from home keeps it (no failback)",
			current: map[string]Current{"eip-web": {Holder: "n1"}},
			nodes:   []Candidate{node("n1", "b"), node("n3", "a")},
			want:    map[string]string{"eip-web": "n1"}, reason: "holder healthy"},
		{name: "auto failback moves it home",
			current: map[string]Current{"eip-web": {Holder: "n1"}},
			nodes:   []Candidate{node("n1", "b"), node("n3", "a")},
			policy:  Policy{AutoFailback: true},
			want:    map[string]string{"eip-web": "n3"}, commit: map[string]bool{"eip-web": true}, reason: "failback"},
		{name: "auto failback does not move between equals",
			current: map[string]Current{"eip-web": {Holder: "n5"}},
			nodes:   []Candidate{node("n5", "a"), node("n3", "a")},
			policy:  Policy{AutoFailback: true},
			want:    map[string]string{"eip-web": "n5"}},
		{name: "holder dead: moves",
			current: map[string]Current{"eip-web": {Holder: "n3"}},
			nodes:   []Candidate{node("n1", "b"), node("n2", "a", "standby"), node("n3", "a", "dead")},
			want:    map[string]string{"eip-web": "n2"}, commit: map[string]bool{"eip-web": true}, reason: "holder n3 is dead"},
		{name: "holder's proxy down: moves",
			current: map[string]Current{"eip-web": {Holder: "n3"}},
			nodes:   []Candidate{node("n1", "b"), node("n3", "a", "proxydown")},
			want:    map[string]string{"eip-web": "n1"}, commit: map[string]bool{"eip-web": true}, reason: "proxy down"},
		{name: "holder unreachable by the mover: moves",
			current: map[string]Current{"eip-web": {Holder: "n3"}},
			nodes:   []Candidate{node("n1", "b"), node("n3", "a", "unreachable")},
			want:    map[string]string{"eip-web": "n1"}, commit: map[string]bool{"eip-web": true}},
		{name: "holder unknown: moves",
			current: map[string]Current{"eip-web": {Holder: "gone"}},
			nodes:   []Candidate{node("n1", "b")},
			want:    map[string]string{"eip-web": "n1"}, commit: map[string]bool{"eip-web": true}, reason: "not a known node"},
		{name: "holder dead and nobody healthy: keeps, no commit",
			current: map[string]Current{"eip-web": {Holder: "n3"}},
			nodes:   []Candidate{node("n1", "b", "proxydown"), node("n3", "a", "dead")},
			want:    map[string]string{"eip-web": "n3"}, reason: "no healthy node"},
		{name: "pinned stays on a live holder whose proxy is down",
			current: map[string]Current{"eip-web": {Holder: "n1", Pinned: true}},
			nodes:   []Candidate{node("n1", "b", "proxydown"), node("n3", "a")},
			policy:  Policy{AutoFailback: true},
			want:    map[string]string{"eip-web": "n1"}, reason: "pinned"},
		{name: "pinned moves off a dead holder",
			current: map[string]Current{"eip-web": {Holder: "n1", Pinned: true}},
			nodes:   []Candidate{node("n1", "b", "dead"), node("n3", "a")},
			want:    map[string]string{"eip-web": "n3"}, commit: map[string]bool{"eip-web": true}},
		{name: "node-local: a live holder releases first",
			current: map[string]Current{"eip-web": {Holder: "n1"}},
			nodes:   []Candidate{node("n1", "a", "proxydown", "holds=eip-web"), node("n2", "a")},
			policy:  Policy{NodeLocal: true},
			want:    map[string]string{"eip-web": ""}, commit: map[string]bool{"eip-web": true}, reason: "release from n1"},
		{name: "node-local: waits while a live node still holds it",
			nodes:  []Candidate{node("n1", "a", "proxydown", "holds=eip-web"), node("n2", "a")},
			policy: Policy{NodeLocal: true},
			want:   map[string]string{"eip-web": ""}, waiting: true},
		{name: "node-local: the new holder may report it already",
			nodes:  []Candidate{node("n1", "a", "proxydown"), node("n2", "a", "holds=eip-web")},
			policy: Policy{NodeLocal: true},
			want:   map[string]string{"eip-web": "n2"}, commit: map[string]bool{"eip-web": true}},
		{name: "node-local: a dead holder is fenced, move at once",
			current: map[string]Current{"eip-web": {Holder: "n1"}},
			nodes:   []Candidate{node("n1", "a", "dead", "holds=eip-web"), node("n2", "a")},
			policy:  Policy{NodeLocal: true},
			want:    map[string]string{"eip-web": "n2"}, commit: map[string]bool{"eip-web": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eips := tc.eips
			if eips == nil {
				eips = []EIP{web}
			}
			ds := Place(eips, tc.current, tc.nodes, tc.policy)
			got, commits := map[string]string{}, map[string]bool{}
			for _, d := range ds {
				got[d.EIP.ID] = d.Holder
				if d.Commit {
					commits[d.EIP.ID] = true
				}
			}
			if tc.commit == nil {
				tc.commit = map[string]bool{}
			}
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(commits, tc.commit) {
				t.Fatalf("holders %v commits %v, want %v %v (decisions %+v)", got, commits, tc.want, tc.commit, ds)
			}
			if !strings.Contains(ds[0].Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", ds[0].Reason, tc.reason)
			}
			if (ds[0].Waiting != "") != tc.waiting {
				t.Errorf("waiting %q, want waiting=%v", ds[0].Waiting, tc.waiting)
			}
			// Every leader computes the same, whatever order it lists things in.
			for i := 0; i < 20; i++ {
				nodes, es := append([]Candidate(nil), tc.nodes...), append([]EIP(nil), eips...)
				rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
				rand.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
				if again := Place(es, tc.current, nodes, tc.policy); !reflect.DeepEqual(again, ds) {
					t.Fatalf("order-dependent: %+v vs %+v", again, ds)
				}
			}
		})
	}
}

// A decision applied and placed again does not move anything (no
// flapping), for every policy.
func TestPlaceIsStable(t *testing.T) {
	eips := []EIP{{ID: "e1", HomeAZ: "a"}, {ID: "e2", HomeAZ: "b"}, {ID: "e3", HomeAZ: "c"}, {ID: "e4", HomeAZ: "a"}}
	nodes := []Candidate{node("n1", "a"), node("n2", "a", "standby"), node("n3", "b"), node("n4", "c", "dead")}
	for _, p := range []Policy{{}, {AutoFailback: true}} {
		cur := map[string]Current{}
		for _, d := range Place(eips, cur, nodes, p) {
			cur[d.EIP.ID] = Current{Holder: d.Holder}
		}
		for _, d := range Place(eips, cur, nodes, p) {
			if d.Commit {
				t.Fatalf("policy %+v: second pass moves %s: %s", p, d.EIP.ID, d.Reason)
			}
		}
		if cur["e3"].Holder == "n4" {
			t.Fatal("placed on a dead node")
		}
	}
}
