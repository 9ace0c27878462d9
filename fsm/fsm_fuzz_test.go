package fsm

import (
	"bytes"
	"errors"
	"hash/crc32"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

// fuzzSeedLog is a small log with every command type, built without a
// *testing.T so fuzz targets can use it for seeds and for a non-empty
// starting state.
func fuzzSeedLog() [][]byte {
	enc := func(t MessageType, m proto.Message) []byte {
		b, err := Encode(t, m)
		if err != nil {
			panic(err)
		}
		return b
	}
	b := func(key, srv string) *fsmpb.Binding {
		return &fsmpb.Binding{Backend: "app", Key: key, Server: srv, CreatedUnixMs: 1700000000000, LearnedBy: "n1"}
	}
	return [][]byte{
		enc(LearnSessionsType, &fsmpb.LearnSessions{Bindings: []*fsmpb.Binding{b("s1", "A"), b("s2", "B"), b("", "")}}),
		enc(DeleteSessionsType, &fsmpb.DeleteSessions{Sessions: []*fsmpb.SessionRef{{Backend: "app", Key: "s2"}}}),
		enc(RebindSessionsType, &fsmpb.RebindSessions{Bindings: []*fsmpb.Binding{b("s1", "B")}}),
		enc(SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_DRAIN}),
		enc(SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "B", Health: fsmpb.Health_HEALTH_DOWN, StampUnixMs: 7}),
		enc(RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n1", Az: "a", RaftAddr: "127.0.0.1:1"}}),
		enc(AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "eipalloc-1", Holder: "n1", Term: 3}}),
		enc(SetDNSRecordType, &fsmpb.SetDNSRecord{Record: &fsmpb.DNSRecord{Id: "Z1/lb.", Values: []string{"198.51.100.1"}, Term: 3}}),
		enc(ReportNodeStatusType, &fsmpb.ReportNodeStatus{Status: &fsmpb.NodeStatus{NodeId: "n1", Holding: []string{"eipalloc-1"}}}),
		enc(SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 3}),
		enc(AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:9", Weight: 1}),
		enc(RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "C"}),
		enc(DiscoverServersType, &fsmpb.DiscoverServers{Backend: "app", Source: "ec2", StampUnixMs: 9,
			Add: []*fsmpb.AddServer{{Backend: "app", Name: "i-1", Addr: "10.0.0.1:80", Weight: 1}}, Deregister: []string{"i-1"}, Remove: []string{"i-1", "A"}}),
		enc(ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: []*fsmpb.HealthView{{Backend: "app", Server: "A", Node: "n2", Health: fsmpb.Health_HEALTH_DOWN}}}),
		{byte(99 | IgnoreUnknownTypeFlag), 1, 2},
	}
}

func fuzzSnapshot(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.(*snapshot).WriteTo(&buf); err != nil {
		t.Fatalf("snapshot of a state reached by accepted commands failed: %v", err)
	}
	return buf.Bytes()
}

// FuzzApplyCommand: whatever the leader's Validate accepts, Apply must
// apply without panicking (a panic in Apply stops every node of the cluster
// on the same entry), two nodes applying the same entries must end in
// byte-identical snapshots, and a snapshot of the result must restore to
// the same bytes.
func FuzzApplyCommand(f *testing.F) {
	seeds := fuzzSeedLog()
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{byte(LearnSessionsType), 0xff, 0xff}, []byte{99})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		nodes := [2]*FSM{New(discardLogger()), New(discardLogger())}
		idx := uint64(0)
		apply := func(data []byte) {
			idx++
			for _, n := range nodes {
				n.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
			}
		}
		for _, e := range seeds {
			apply(e)
		}
		for _, data := range [][]byte{a, b} {
			if err := nodes[0].Validate(data); err != nil {
				continue // the leader refuses it: it never enters the log
			}
			apply(data)
		}
		sa, sb := fuzzSnapshot(t, nodes[0]), fuzzSnapshot(t, nodes[1])
		if !bytes.Equal(sa, sb) {
			t.Fatal("two nodes applying the same entries have different snapshots")
		}
		r := New(discardLogger())
		if err := r.Restore(nopCloser{bytes.NewReader(sa)}); err != nil {
			t.Fatalf("own snapshot refused: %v", err)
		}
		if sr := fuzzSnapshot(t, r); !bytes.Equal(sa, sr) {
			t.Fatal("restore + snapshot changed the bytes")
		}
		if r.SessionCount() != nodes[0].SessionCount() {
			t.Fatalf("restored %d sessions, had %d", r.SessionCount(), nodes[0].SessionCount())
		}
	})
}

// FuzzReadSnapshot: ReadSnapshot never panics on any byte stream, refuses
// what it cannot read with ErrCorruptSnapshot, and what it accepts
// round-trips.
func FuzzReadSnapshot(f *testing.F) {
	full := New(discardLogger())
	for i, e := range fuzzSeedLog() {
		full.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
	}
	var good bytes.Buffer
	snap, _ := full.Snapshot()
	if _, err := snap.(*snapshot).WriteTo(&good); err != nil {
		f.Fatal(err)
	}
	var empty bytes.Buffer
	snap, _ = New(discardLogger()).Snapshot()
	if _, err := snap.(*snapshot).WriteTo(&empty); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(empty.Bytes())
	f.Add(good.Bytes()[:good.Len()/2])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSnapshotBytes(t, data)
	})
}

// FuzzSnapshotRecords frames fuzzed record payloads into a stream with a
// correct trailer (count and CRC), so the fuzzer reaches the record
// decoding past the integrity check: duplicate headers, empty records,
// absurd header counts, records with nil content.
func FuzzSnapshotRecords(f *testing.F) {
	hdr, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Header{Header: &fsmpb.SnapshotHeader{Format: snapshotFormat, Sessions: 1}}})
	sess, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Session{Session: &fsmpb.Binding{Backend: "app", Key: "k", Server: "A"}}})
	srv, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Server{Server: &fsmpb.Server{Backend: "app", Name: "A"}}})
	view, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_HealthView{HealthView: &fsmpb.HealthView{Backend: "app", Server: "A", Node: "n1"}}})
	node, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Node{Node: &fsmpb.Node{Id: "n1"}}})
	f.Add(hdr, sess, srv)
	f.Add(hdr, view, node)
	f.Add(hdr, hdr, sess)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(hdr, []byte{0x12, 0x00}, []byte{0x1a, 0x00})
	f.Fuzz(func(t *testing.T, r1, r2, r3 []byte) {
		var stream bytes.Buffer
		var crc uint32
		put := func(b []byte) {
			stream.Write(uvarint(uint64(len(b))))
			stream.Write(b)
		}
		for _, r := range [][]byte{r1, r2, r3} {
			put(r)
			crc = crc32Update(crc, r)
		}
		tr, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Trailer{Trailer: &fsmpb.SnapshotTrailer{Records: 3, Crc32C: crc}}})
		put(tr)
		checkSnapshotBytes(t, stream.Bytes())
	})
}

func checkSnapshotBytes(t *testing.T, data []byte) {
	st, err := ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("refusal does not wrap ErrCorruptSnapshot: %v", err)
		}
		// Restore must keep the current state.
		f := New(discardLogger())
		f.ApplyCommand(fuzzSeedLog()[0])
		before := f.SessionCount()
		if rerr := f.Restore(nopCloser{bytes.NewReader(data)}); rerr == nil || f.SessionCount() != before {
			t.Fatalf("Restore of a refused stream: err %v, sessions %d -> %d", rerr, before, f.SessionCount())
		}
		return
	}
	f := &FSM{State: st, commands: registry(), log: discardLogger()}
	again := fuzzSnapshot(t, f)
	st2, err := ReadSnapshot(bytes.NewReader(again))
	if err != nil {
		t.Fatalf("re-snapshot of an accepted snapshot is refused: %v", err)
	}
	if third := fuzzSnapshot(t, &FSM{State: st2, commands: registry(), log: discardLogger()}); !bytes.Equal(again, third) {
		t.Fatal("snapshot of a restored snapshot is not stable")
	}
	if st.SessionCount() != st2.SessionCount() {
		t.Fatalf("sessions %d then %d", st.SessionCount(), st2.SessionCount())
	}
}

func uvarint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func crc32Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, crcTable, b) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Found by FuzzSnapshotRecords: a header whose session count is corrupt
// (read before the CRC is checked) made ReadSnapshot preallocate a map of
// that size — gigabytes for 2^30, a panic for a count above MaxInt64 —
// instead of refusing the snapshot.
func TestReadSnapshotCorruptSessionCount(t *testing.T) {
	for _, n := range []uint64{1 << 30, 1 << 40, 1<<63 + 5, ^uint64(0)} {
		hdr, _ := proto.Marshal(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Header{Header: &fsmpb.SnapshotHeader{Format: snapshotFormat, Sessions: n}}})
		var b bytes.Buffer
		b.Write(uvarint(uint64(len(hdr))))
		b.Write(hdr)
		if _, err := ReadSnapshot(&b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("count %d: %v", n, err)
		}
	}
}
