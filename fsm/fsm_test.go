package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

func mustEncode(t *testing.T, mt MessageType, m proto.Message) []byte {
	t.Helper()
	b, err := Encode(mt, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func learn(bs ...*fsmpb.Binding) *fsmpb.LearnSessions { return &fsmpb.LearnSessions{Bindings: bs} }

func bind(key, server string) *fsmpb.Binding {
	return &fsmpb.Binding{Backend: "app", Key: key, Server: server, CreatedUnixMs: 1700000000000, LearnedBy: "n1"}
}

// testLog is a mixed log exercising every command type.
func testLog(t *testing.T) [][]byte {
	t.Helper()
	var log [][]byte
	for i := 0; i < 200; i++ {
		log = append(log, mustEncode(t, LearnSessionsType, learn(bind(fmt.Sprintf("s%03d", i), []string{"A", "B"}[i%2]), bind(fmt.Sprintf("t%03d", i), "B"))))
	}
	log = append(log,
		mustEncode(t, SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: fsmpb.Health_HEALTH_DOWN, StampUnixMs: 5}),
		mustEncode(t, LearnSessionsType, learn(bind("s000", "B"))),
		mustEncode(t, SetServerAdminType, &fsmpb.SetServerAdmin{Backend: "app", Name: "B", Admin: fsmpb.AdminState_ADMIN_DRAIN}),
		mustEncode(t, DeleteSessionsType, &fsmpb.DeleteSessions{Sessions: []*fsmpb.SessionRef{{Backend: "app", Key: "t001"}, {Backend: "app", Key: "nope"}}}),
		mustEncode(t, RebindSessionsType, &fsmpb.RebindSessions{Bindings: []*fsmpb.Binding{bind("t002", "A")}}),
		mustEncode(t, RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n2", Az: "b", RaftAddr: "127.0.0.1:2"}}),
		mustEncode(t, RegisterNodeType, &fsmpb.RegisterNode{Node: &fsmpb.Node{Id: "n1", Az: "a", RaftAddr: "127.0.0.1:1"}}),
		mustEncode(t, AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "eipalloc-1", Holder: "n1", Term: 3}}),
		mustEncode(t, SetDNSRecordType, &fsmpb.SetDNSRecord{Record: &fsmpb.DNSRecord{Id: "Z1/lb.example.com.", Values: []string{"198.51.100.1"}, Ttl: 60, Term: 3}}),
		mustEncode(t, ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: []*fsmpb.HealthView{
			{Backend: "app", Server: "A", Node: "n2", Health: fsmpb.Health_HEALTH_DOWN, StampUnixMs: 9},
			{Backend: "app", Server: "A", Node: "n1", Health: fsmpb.Health_HEALTH_UP, StampUnixMs: 9},
		}}),
	)
	return log
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := snap.(*snapshot).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministicSnapshots(t *testing.T) {
	log := testLog(t)
	a, b := New(nil), New(nil)
	for i, e := range log {
		a.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
		b.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
	}
	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatalf("same log gave different snapshots (%d vs %d bytes)", len(sa), len(sb))
	}
	// Restoring a snapshot and snapshotting again gives the same bytes.
	c := New(nil)
	if err := c.Restore(nopCloser{bytes.NewReader(sa)}); err != nil {
		t.Fatal(err)
	}
	if sc := snapshotBytes(t, c); !bytes.Equal(sa, sc) {
		t.Fatal("restore + snapshot changed the bytes")
	}
	if got := c.SessionCount(); got != 399 {
		t.Fatalf("restored %d sessions, want 399", got)
	}
	if srv, _ := c.Lookup("app", "s000"); srv != "B" {
		t.Fatalf("s000 on %q after A went down and B was learned, want B", srv)
	}
	if srv, _ := c.Lookup("app", "t002"); srv != "A" {
		t.Fatalf("rebind lost: t002 on %q", srv)
	}
	if v := c.HealthViews("app", "A"); len(v) != 2 || v["n2"].Health != fsmpb.Health_HEALTH_DOWN {
		t.Fatalf("health views not restored: %v", v)
	}
	if st := c.Servers().Get("app", "B"); st.Admin != fsmpb.AdminState_ADMIN_DRAIN {
		t.Fatalf("server state not restored: %+v", st)
	}
	if r := c.DNSRecords(); len(r) != 1 || r[0].Ttl != 60 || r[0].Values[0] != "198.51.100.1" {
		t.Fatalf("dns records not restored: %v", r)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestRestoreRefusesDamagedSnapshot(t *testing.T) {
	f := New(nil)
	for i, e := range testLog(t) {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
	}
	good := snapshotBytes(t, f)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	cases := map[string][]byte{
		"empty":       nil,
		"truncated":   good[:len(good)-7],
		"half":        good[:len(good)/2],
		"bit flipped": flipped,
		"garbage":     []byte("not a snapshot at all, just text"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			target := New(nil)
			target.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: mustEncode(t, LearnSessionsType, learn(bind("keep", "A")))})
			err := target.Restore(nopCloser{bytes.NewReader(data)})
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("Restore(%s) = %v, want ErrCorruptSnapshot", name, err)
			}
			if srv, ok := target.Lookup("app", "keep"); !ok || srv != "A" {
				t.Fatal("a refused restore changed the state")
			}
		})
	}
}

func TestFirstBindingWins(t *testing.T) {
	tests := []struct {
		name    string
		before  []proto.Message // applied first
		propose string          // server proposed for session "s"
		wantSrv string
	}{
		{"unbound takes proposal", nil, "B", "B"},
		{"bound to live server keeps it", []proto.Message{learn(bind("s", "A"))}, "B", "A"},
		{"same server is idempotent", []proto.Message{learn(bind("s", "A"))}, "A", "A"},
		{"bound to down server is replaced", []proto.Message{learn(bind("s", "A")), &fsmpb.SetServerHealth{Backend: "app", Name: "A", Health: fsmpb.Health_HEALTH_DOWN}}, "B", "B"},
		{"bound to maint server is replaced", []proto.Message{learn(bind("s", "A")), &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_MAINT}}, "B", "B"},
		{"bound to draining server keeps it", []proto.Message{learn(bind("s", "A")), &fsmpb.SetServerAdmin{Backend: "app", Name: "A", Admin: fsmpb.AdminState_ADMIN_DRAIN}}, "B", "A"},
	}
	types := map[string]MessageType{"LearnSessions": LearnSessionsType, "SetServerHealth": SetServerHealthType, "SetServerAdmin": SetServerAdminType}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New(nil)
			for _, m := range tc.before {
				f.ApplyCommand(mustEncode(t, types[string(m.ProtoReflect().Descriptor().Name())], m))
			}
			res := f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bind("s", tc.propose))))
			if got := res.Learn.Committed[0].Server; got != tc.wantSrv {
				t.Fatalf("result says %q, want %q", got, tc.wantSrv)
			}
			if got, _ := f.Lookup("app", "s"); got != tc.wantSrv {
				t.Fatalf("state says %q, want %q", got, tc.wantSrv)
			}
		})
	}
}

func TestUnknownAndCorruptEntries(t *testing.T) {
	f := New(nil)
	mustPanic := func(name string, data []byte) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: Apply did not panic", name)
			}
		}()
		f.ApplyCommand(data)
	}
	mustPanic("unknown type", []byte{99, 1, 2})
	mustPanic("undecodable payload", []byte{byte(LearnSessionsType), 0xff, 0xff, 0xff})
	mustPanic("empty entry", nil)
	res := f.ApplyCommand([]byte{byte(99 | IgnoreUnknownTypeFlag), 1, 2})
	if res.ErrorCode != "unknown_type" {
		t.Fatalf("ignorable unknown type: %+v", res)
	}
}

func TestDNSRecordStaleTermAndEmptyRefused(t *testing.T) {
	f := New(nil)
	set := func(term uint64, values ...string) *fsmpb.ApplyResult {
		return f.ApplyCommand(mustEncode(t, SetDNSRecordType, &fsmpb.SetDNSRecord{Record: &fsmpb.DNSRecord{Id: "Z1/lb.", Values: values, Ttl: 60, Term: term}}))
	}
	cases := []struct {
		term   uint64
		values []string
		code   string
	}{
		{5, []string{"198.51.100.1", "198.51.100.2"}, ""},
		{4, []string{"198.51.100.9"}, "stale_term"},
		{6, nil, "invalid"},
		{5, []string{"198.51.100.2"}, ""},
	}
	for _, tc := range cases {
		if res := set(tc.term, tc.values...); res.ErrorCode != tc.code {
			t.Fatalf("set term %d %v = %+v, want code %q", tc.term, tc.values, res, tc.code)
		}
	}
	if r := f.DNSRecords(); len(r) != 1 || r[0].Term != 5 || len(r[0].Values) != 1 || r[0].Values[0] != "198.51.100.2" {
		t.Fatalf("dns records = %v", r)
	}
}

func TestEIPStaleTermRefused(t *testing.T) {
	f := New(nil)
	ok := f.ApplyCommand(mustEncode(t, AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e", Holder: "n1", Term: 5}}))
	if ok.ErrorCode != "" {
		t.Fatal(ok.Error)
	}
	stale := f.ApplyCommand(mustEncode(t, AssignEIPType, &fsmpb.AssignEIP{Eip: &fsmpb.EIP{Id: "e", Holder: "n2", Term: 4}}))
	if stale.ErrorCode != "stale_term" {
		t.Fatalf("stale term accepted: %+v", stale)
	}
	if e := f.EIPs(); len(e) != 1 || e[0].Holder != "n1" {
		t.Fatalf("eips = %v", e)
	}
}
