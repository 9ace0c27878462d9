package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

// The table against a Go map, under random puts, overwrites and deletes,
// across growth (deletes exercise the backward shift).
func TestSessionTableMatchesMap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 9))
		tab := newSessionTable()
		ref := map[string]binding{}
		keys := 5000
		for op := 0; op < 200000; op++ {
			k := fmt.Sprintf("k%d", r.IntN(keys))
			switch r.IntN(3) {
			case 0, 1:
				b := binding{server: uint32(r.IntN(5)), created: int64(op)}
				tab.put(k, b)
				ref[k] = b
			case 2:
				_, had := ref[k]
				if got := tab.del(k); got != had {
					t.Fatalf("seed %d op %d: del(%s) = %v, map had it: %v", seed, op, k, got, had)
				}
				delete(ref, k)
			}
			if op%10007 == 0 || op == 199999 {
				if tab.len() != len(ref) {
					t.Fatalf("len %d, map %d", tab.len(), len(ref))
				}
				for k, want := range ref {
					if got, ok := tab.get(k); !ok || got != want {
						t.Fatalf("seed %d: get(%s) = %v %v, want %v", seed, k, got, ok, want)
					}
				}
				n := 0
				tab.each(func(k string, b binding) bool {
					n++
					if ref[k] != b {
						t.Fatalf("each: %s = %v, map %v", k, b, ref[k])
					}
					return true
				})
				if n != len(ref) {
					t.Fatalf("each saw %d, map %d", n, len(ref))
				}
			}
		}
		removed := tab.deleteWhere(func(_ string, b binding) bool { return b.server == 1 })
		want := 0
		for k, b := range ref {
			if b.server == 1 {
				delete(ref, k)
				want++
			}
		}
		if removed != want || tab.len() != len(ref) {
			t.Fatalf("deleteWhere removed %d (want %d), len %d (want %d)", removed, want, tab.len(), len(ref))
		}
		for k := range ref {
			if _, ok := tab.get(k); !ok {
				t.Fatalf("%s lost by deleteWhere", k)
			}
		}
		if _, ok := tab.get("absent"); ok {
			t.Fatal("absent key found")
		}
	}
}

// The hand-written session record is byte for byte what proto.Marshal
// (deterministic) writes, and decodes back.
func TestSessionRecordEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	str := func() string {
		if r.IntN(4) == 0 {
			return ""
		}
		return fmt.Sprintf("s%x", r.Uint64()>>r.IntN(64))
	}
	num := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return -int64(r.Uint64() >> 1)
		}
		return int64(r.Uint64() >> r.IntN(64))
	}
	for i := 0; i < 20000; i++ {
		b := &fsmpb.Binding{Backend: str(), Key: str(), Server: str(), CreatedUnixMs: num(), LearnedBy: str(), LastSeenUnixMs: num()}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Session{Session: b}})
		if err != nil {
			t.Fatal(err)
		}
		got := appendSessionRecord(nil, b.Backend, b.Key, b.Server, b.LearnedBy, b.CreatedUnixMs, b.LastSeenUnixMs)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v:\n got  %x\n want %x", b, got, want)
		}
		w, ok := decodeSessionRecord(got)
		if !ok || string(w.backend) != b.Backend || string(w.key) != b.Key || string(w.server) != b.Server ||
			string(w.learnedBy) != b.LearnedBy || w.created != b.CreatedUnixMs || w.lastSeen != b.LastSeenUnixMs {
			t.Fatalf("decode %v: %+v %v", b, w, ok)
		}
	}
	// What the fast reader must leave to proto.Unmarshal.
	for name, rec := range map[string][]byte{
		"bad utf-8":      {0x12, 0x03, 0x0a, 0x01, 0xff},
		"unknown field":  {0x12, 0x02, 0x38, 0x01},
		"wrong wiretype": {0x12, 0x02, 0x08, 0x01},
		"header":         {0x0a, 0x00},
		"trailing bytes": {0x12, 0x00, 0x00},
	} {
		if _, ok := decodeSessionRecord(rec); ok {
			t.Errorf("%s: decoded by the fast path", name)
		}
	}
}
