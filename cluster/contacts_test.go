package cluster

import (
	"testing"
	"time"
)

// The two rules of contacts.go on hand-made histories: when a holder out
// of leader contact may keep its addresses, and what a leader may conclude
// from its peers' reports.
func TestContactRules(t *testing.T) {
	const interval = 20 * time.Millisecond // fresh: 60 ms
	const window = 225 * time.Millisecond  // a 250 ms lease less a check interval
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// answer: a ping sent `sent` ago, answered `answered` ago, the peer's
	// leader contact `leader` ago (negative: none).
	answer := func(sent, answered, leader time.Duration, holdable bool) pingAnswer {
		a := pingAnswer{sent: ago(sent), answered: ago(answered), holdable: holdable}
		if leader >= 0 {
			a.leaderAt = ago(leader)
		}
		return a
	}
	type peer struct {
		answers []pingAnswer
		report  peerReport
		voter   bool
	}
	build := func(peers map[string]peer) *peerContacts {
		c := &peerContacts{interval: interval, fresh: 3 * interval, peers: map[string]*peerContact{}, voters: 1}
		for id, p := range peers {
			pc := &peerContact{voter: p.voter, report: p.report}
			for _, a := range p.answers {
				pc.answers[pc.next] = a
				pc.next++
			}
			c.peers[id] = pc
			if p.voter {
				c.voters++
			}
		}
		return c
	}
	ownLeader := ago(400 * time.Millisecond) // the holder lost its leader 400 ms ago

	t.Run("extended", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			peers map[string]peer
			want  bool
		}{
			{"election: both peers in contact, no leader anywhere", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, 390*time.Millisecond, true)}},
				"n3": {voter: true, answers: []pingAnswer{answer(120*time.Millisecond, 119*time.Millisecond, -1, true)}},
			}, true},
			{"one peer of two is a majority", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, 390*time.Millisecond, true)}},
				"n3": {voter: true},
			}, true},
			{"no peer answered", map[string]peer{"n2": {voter: true}, "n3": {voter: true}}, false},
			{"answers too young to count", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(40*time.Millisecond, 30*time.Millisecond, -1, true)}},
			}, false},
			{"pings older than the window", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(300*time.Millisecond, 290*time.Millisecond, -1, true)}},
			}, false},
			{"pings sent while fenced", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, -1, false)}},
			}, false},
			{"a peer hears a leader this node does not: cut off", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, 110*time.Millisecond, true)}},
				"n3": {voter: true, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, -1, true)}},
			}, false},
			{"the latest countable answer decides", map[string]peer{
				"n2": {voter: true, answers: []pingAnswer{
					answer(200*time.Millisecond, 199*time.Millisecond, 100*time.Millisecond, true), // a leader then...
					answer(100*time.Millisecond, 99*time.Millisecond, 390*time.Millisecond, true),  // ...not since
					answer(20*time.Millisecond, 19*time.Millisecond, 0, true),                      // too young to count
				}},
			}, true},
			{"non-voters do not count", map[string]peer{
				"n2": {voter: false, answers: []pingAnswer{answer(100*time.Millisecond, 98*time.Millisecond, -1, true)}},
				"n3": {voter: true},
				"n4": {voter: true},
			}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got, why := build(tc.peers).extended(now, window, ownLeader); got != tc.want || (why == "") != tc.want {
					t.Fatalf("extended = %v (%q), want %v", got, why, tc.want)
				}
			})
		}
	})

	t.Run("indirect", func(t *testing.T) {
		c := build(map[string]peer{
			"n1": {voter: true},
			"n2": {voter: true, report: peerReport{sent: ago(30 * time.Millisecond), contacts: map[string]time.Time{"n1": ago(500 * time.Millisecond)}}},
			"n3": {voter: true, report: peerReport{sent: ago(200 * time.Millisecond), contacts: map[string]time.Time{"n1": ago(150 * time.Millisecond)}}},
			"n4": {voter: true, report: peerReport{sent: ago(10 * time.Millisecond), contacts: map[string]time.Time{"n1": ago(700 * time.Millisecond)}}},
		})
		c.peers["n1"].heard = ago(900 * time.Millisecond)
		at, fresh := c.indirect("n1", now)
		// n3's report is stale: it neither counts nor lends its contact.
		if fresh != 2 || !at.Equal(ago(500*time.Millisecond)) {
			t.Fatalf("indirect = %v ago, %d fresh; want 500ms ago, 2 fresh", now.Sub(at), fresh)
		}
		if m := c.majority(); m != 3 {
			t.Fatalf("majority of 5 voters = %d", m)
		}
	})
}
