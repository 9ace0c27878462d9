package fsm

import (
	"hash/maphash"
	"math/bits"
)

// sessionTable holds one backend's sessions: key -> binding. It is an
// open-addressing hash table (linear probing, backward-shift deletion)
// split into 64 shards that grow by half independently.
//
// Why not a Go map: at a million sessions a map[SessionKey]binding took
// ~190 B per session (a 80-byte slot, and Swiss-table directories that
// double, leaving tables about half empty right after 2^20 entries); here a
// slot is 40 bytes and shards stay 53-80% full, ~60-75 B per session plus
// the key's bytes (bench/scale: go test -run TestSessionMemory). Growing
// one shard rehashes 1/64 of the table, so no Apply stalls the proxies'
// lookups for long. Lookups cost one hash and a short probe at any size.
type sessionTable struct {
	seed   maphash.Seed
	shards [tableShards]tableShard
	n      int
}

const (
	tableShards    = 64
	shardBits      = 6
	minShardSlots  = 8
	maxLoadPercent = 80
)

type tableShard struct {
	slots []tableSlot
	// ctrl[i] is 0 for an empty slot, else 0x80 | 7 bits of the key's
	// hash: a probe compares keys (a cache miss each) only on a match.
	ctrl []uint8
	n    int
}

type tableSlot struct {
	key string
	b   binding
}

func newSessionTable() *sessionTable { return &sessionTable{seed: maphash.MakeSeed()} }

// newSessionTableFor returns a table sized for n entries.
func newSessionTableFor(n int) *sessionTable {
	t := newSessionTable()
	per := n / tableShards * 100 / (maxLoadPercent - 10)
	if per > minShardSlots {
		for i := range t.shards {
			t.shards[i].slots = make([]tableSlot, per)
			t.shards[i].ctrl = make([]uint8, per)
		}
	}
	return t
}

func fingerprint(h uint64) uint8 { return uint8(h) | 0x80 }

func (t *sessionTable) len() int { return t.n }

// locate returns the shard of key, its home slot there and its hash.
func (t *sessionTable) locate(key string) (*tableShard, uint64, uint64) {
	h := maphash.String(t.seed, key)
	sh := &t.shards[h>>(64-shardBits)]
	if len(sh.slots) == 0 {
		return sh, 0, h
	}
	home, _ := bits.Mul64(h<<shardBits, uint64(len(sh.slots)))
	return sh, home, h
}

// find returns the slot holding key.
func (t *sessionTable) find(key string) (*tableShard, uint64, bool) {
	sh, i, h := t.locate(key)
	fp := fingerprint(h)
	n := uint64(len(sh.slots))
	for probes := uint64(0); probes < n; probes++ {
		c := sh.ctrl[i]
		if c == 0 {
			return sh, i, false
		}
		if c == fp && sh.slots[i].key == key {
			return sh, i, true
		}
		if i++; i == n {
			i = 0
		}
	}
	return sh, 0, false
}

func (t *sessionTable) get(key string) (binding, bool) {
	sh, i, ok := t.find(key)
	if !ok {
		return binding{}, false
	}
	return sh.slots[i].b, true
}

// put sets key's binding.
func (t *sessionTable) put(key string, b binding) {
	if sh, i, ok := t.find(key); ok {
		sh.slots[i].b = b
		return
	}
	sh, _, _ := t.locate(key)
	if (sh.n+1)*100 > len(sh.slots)*maxLoadPercent {
		t.grow(sh)
	}
	sh.insert(t, key, b)
	sh.n++
	t.n++
}

// insert places an absent key; the shard has room.
func (sh *tableShard) insert(t *sessionTable, key string, b binding) {
	h := maphash.String(t.seed, key)
	i, _ := bits.Mul64(h<<shardBits, uint64(len(sh.slots)))
	n := uint64(len(sh.slots))
	for sh.ctrl[i] != 0 {
		if i++; i == n {
			i = 0
		}
	}
	sh.slots[i] = tableSlot{key: key, b: b}
	sh.ctrl[i] = fingerprint(h)
}

func (t *sessionTable) grow(sh *tableShard) {
	old, oldCtrl := sh.slots, sh.ctrl
	size := max(minShardSlots, len(old)+len(old)/2)
	sh.slots = make([]tableSlot, size)
	sh.ctrl = make([]uint8, size)
	for i := range old {
		if oldCtrl[i] != 0 {
			sh.insert(t, old[i].key, old[i].b)
		}
	}
}

// del removes key; it reports whether it was there.
func (t *sessionTable) del(key string) bool {
	sh, i, ok := t.find(key)
	if !ok {
		return false
	}
	sh.removeAt(t, i)
	sh.n--
	t.n--
	return true
}

// removeAt empties slot i and shifts back the entries of its probe run
// that may move closer to their home slot, so that no tombstone is needed.
func (sh *tableShard) removeAt(t *sessionTable, i uint64) {
	n := uint64(len(sh.slots))
	j := i
	for {
		if j++; j == n {
			j = 0
		}
		if sh.ctrl[j] == 0 {
			break
		}
		h := maphash.String(t.seed, sh.slots[j].key)
		home, _ := bits.Mul64(h<<shardBits, n)
		// Move j to the hole at i unless its home lies cyclically in (i, j].
		if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			sh.slots[i], sh.ctrl[i] = sh.slots[j], sh.ctrl[j]
			i = j
		}
	}
	sh.slots[i], sh.ctrl[i] = tableSlot{}, 0
}

// each calls fn for every entry until fn returns false. fn must not
// modify the table, except through deleteWhere.
func (t *sessionTable) each(fn func(key string, b binding) bool) {
	for s := range t.shards {
		sh := &t.shards[s]
		for i := range sh.slots {
			if sh.ctrl[i] != 0 && !fn(sh.slots[i].key, sh.slots[i].b) {
				return
			}
		}
	}
}

// deleteWhere removes every entry for which drop returns true and returns
// how many it removed.
func (t *sessionTable) deleteWhere(drop func(key string, b binding) bool) int {
	var keys []string
	t.each(func(k string, b binding) bool {
		if drop(k, b) {
			keys = append(keys, k)
		}
		return true
	})
	for _, k := range keys {
		t.del(k)
	}
	return len(keys)
}
