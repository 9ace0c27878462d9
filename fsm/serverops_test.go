package fsm

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/haraft/haraft/proto/fsmpb"
)

func TestServerOps(t *testing.T) {
	tests := []struct {
		name    string
		cmds    []func(*testing.T) []byte
		backend string
		server  string
		want    ServerState
		errCode string
	}{
		{
			name: "weight set then reset",
			cmds: []func(*testing.T) []byte{
				func(t *testing.T) []byte {
					return mustEncode(t, SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 7})
				},
				func(t *testing.T) []byte {
					return mustEncode(t, SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", UseConfigured: true})
				},
			},
			backend: "app", server: "A", want: ServerState{},
		},
		{
			name: "weight zero is a real weight",
			cmds: []func(*testing.T) []byte{func(t *testing.T) []byte {
				return mustEncode(t, SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 0})
			}},
			backend: "app", server: "A", want: ServerState{WeightSet: true},
		},
		{
			name: "weight out of range refused",
			cmds: []func(*testing.T) []byte{func(t *testing.T) []byte {
				return mustEncode(t, SetServerWeightType, &fsmpb.SetServerWeight{Backend: "app", Name: "A", Weight: 257})
			}},
			backend: "app", server: "A", want: ServerState{}, errCode: "invalid",
		},
		{
			name: "add then remove then re-add",
			cmds: []func(*testing.T) []byte{
				func(t *testing.T) []byte {
					return mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:9", Weight: 2})
				},
				func(t *testing.T) []byte {
					return mustEncode(t, RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "C"})
				},
				func(t *testing.T) []byte {
					return mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:10", Cookie: "c", Weight: 3})
				},
			},
			backend: "app", server: "C", want: ServerState{Addr: "127.0.0.1:10", Cookie: "c", Dynamic: true, Weight: 3, WeightSet: true},
		},
		{
			name: "add needs an address",
			cmds: []func(*testing.T) []byte{func(t *testing.T) []byte {
				return mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C"})
			}},
			backend: "app", server: "C", want: ServerState{}, errCode: "invalid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			var last *fsmpb.ApplyResult
			for _, c := range tt.cmds {
				last = f.ApplyCommand(c(t))
			}
			if last.ErrorCode != tt.errCode {
				t.Fatalf("error code %q (%s), want %q", last.ErrorCode, last.Error, tt.errCode)
			}
			if got := f.Servers().Get(tt.backend, tt.server); got != tt.want {
				t.Fatalf("server state %+v, want %+v", got, tt.want)
			}
			// The state survives a snapshot round trip.
			st, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, f)))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Servers().Get(tt.backend, tt.server); got != tt.want {
				t.Fatalf("after restore %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A server back from removal, or moved to another address, starts with no
// agreed health of its earlier life (the nodes' views stay, to be
// overwritten by their fresh checks); the same server added again at the
// same address keeps its health.
func TestReAddedServerStartsUnchecked(t *testing.T) {
	down := func(f *FSM) {
		f.ApplyCommand(mustEncode(t, ReportHealthViewsType, &fsmpb.ReportHealthViews{Views: []*fsmpb.HealthView{
			{Backend: "app", Server: "C", Node: "n1", Health: fsmpb.Health_HEALTH_DOWN}}}))
		f.ApplyCommand(mustEncode(t, SetServerHealthType, &fsmpb.SetServerHealth{Backend: "app", Name: "C", Health: fsmpb.Health_HEALTH_DOWN, StampUnixMs: 1}))
	}
	add := func(addr string) []byte {
		return mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: addr, Weight: 1})
	}
	for _, tc := range []struct {
		name       string
		then       [][]byte
		wantHealth fsmpb.Health
		wantViews  int
	}{
		{"added again at the same address", [][]byte{add("127.0.0.1:9")}, fsmpb.Health_HEALTH_DOWN, 1},
		{"moved to another address", [][]byte{add("127.0.0.1:10")}, fsmpb.Health_HEALTH_UNKNOWN, 1},
		{"removed then added back", [][]byte{mustEncode(t, RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "C"}), add("127.0.0.1:9")}, fsmpb.Health_HEALTH_UNKNOWN, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(nil)
			f.ApplyCommand(add("127.0.0.1:9"))
			down(f)
			for _, c := range tc.then {
				if res := f.ApplyCommand(c); res.ErrorCode != "" {
					t.Fatal(res.Error)
				}
			}
			if got := f.Servers().Get("app", "C").Health; got != tc.wantHealth {
				t.Errorf("health %v, want %v", got, tc.wantHealth)
			}
			if got := len(f.HealthViews("app", "C")); got != tc.wantViews {
				t.Errorf("%d views, want %d", got, tc.wantViews)
			}
		})
	}
}

func TestRemovedServerKeepsNoSessions(t *testing.T) {
	f := New(nil)
	f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bind("s1", "A"))))
	f.ApplyCommand(mustEncode(t, RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "A"}))
	st := f.Servers().Get("app", "A")
	if st.Usable() || st.KeepsSessions() {
		t.Fatalf("removed server usable=%v keeps=%v", st.Usable(), st.KeepsSessions())
	}
	// A new learn for the session may now bind it elsewhere.
	res := f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bind("s1", "B"))))
	if got := res.Learn.Committed[0].Server; got != "B" {
		t.Fatalf("committed %s, want B", got)
	}
}

// A server removed and added again under the same name is a new server:
// sessions of its earlier life that no node rebound yet are dropped, not
// handed to it; other servers' sessions stay.
func TestReAddedServerGetsNoOldSessions(t *testing.T) {
	f := New(nil)
	f.ApplyCommand(mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:9003"}))
	f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bind("s1", "C"), bind("s2", "C"), bind("s3", "A"))))
	f.ApplyCommand(mustEncode(t, RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: "C"}))
	// s2 was used while C was away and rebound by rendezvous.
	f.ApplyCommand(mustEncode(t, RebindSessionsType, &fsmpb.RebindSessions{Bindings: []*fsmpb.Binding{bind("s2", "B")}}))

	res := f.ApplyCommand(mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:9013"}))
	if res.ErrorCode != "" || res.Count != 1 {
		t.Fatalf("re-add: %+v, want 1 session dropped", res)
	}
	for key, want := range map[string]string{"s1": "", "s2": "B", "s3": "A"} {
		got, ok := f.Lookup("app", key)
		if want == "" && ok {
			t.Errorf("%s still bound to %s after C came back", key, got)
		}
		if want != "" && got != want {
			t.Errorf("%s bound to %q, want %s", key, got, want)
		}
	}
	// Moving a live server to another address keeps its sessions.
	f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bind("s4", "C"))))
	if res := f.ApplyCommand(mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "127.0.0.1:9023"})); res.Count != 0 {
		t.Errorf("moving C dropped %d sessions", res.Count)
	}
	if got, _ := f.Lookup("app", "s4"); got != "C" {
		t.Errorf("s4 bound to %q after C moved, want C", got)
	}
}

func TestSessionsPage(t *testing.T) {
	f := New(nil)
	var bs []*fsmpb.Binding
	for i := 0; i < 25; i++ {
		bs = append(bs, bind(fmt.Sprintf("k%02d", i), []string{"A", "B"}[i%2]))
	}
	bs = append(bs, &fsmpb.Binding{Backend: "other", Key: "k00", Server: "X"})
	f.ApplyCommand(mustEncode(t, LearnSessionsType, learn(bs...)))

	tests := []struct {
		name   string
		filter SessionFilter
		limit  int
		want   int // sessions over all pages
	}{
		{"all", SessionFilter{}, 7, 26},
		{"backend", SessionFilter{Backend: "app"}, 10, 25},
		{"server", SessionFilter{Backend: "app", Server: "A"}, 4, 13},
		{"none", SessionFilter{Backend: "nope"}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var after SessionKey
			var got []*fsmpb.Binding
			for pages := 0; ; pages++ {
				page, more := f.SessionsPage(tt.filter, after, tt.limit)
				if len(page) > tt.limit {
					t.Fatalf("page of %d > limit %d", len(page), tt.limit)
				}
				got = append(got, page...)
				if !more {
					break
				}
				last := page[len(page)-1]
				after = SessionKey{last.Backend, last.Key}
				if pages > 100 {
					t.Fatal("paging does not end")
				}
			}
			if len(got) != tt.want {
				t.Fatalf("%d sessions, want %d", len(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if compareKeys(SessionKey{got[i-1].Backend, got[i-1].Key}, SessionKey{got[i].Backend, got[i].Key}) >= 0 {
					t.Fatalf("out of order at %d: %v then %v", i, got[i-1], got[i])
				}
			}
		})
	}
}

// Apply enforces the server table's invariants on every checked AddServer
// entry, against the table as replicated so far: the second of two entries
// proposed from the same starting table (two adds racing through the
// leader) is refused when it takes a name or a cookie value the first took.
// An unchecked entry (written before the checks moved into Apply) applies
// as it did.
func TestAddServerInvariantsInApply(t *testing.T) {
	conf := []*fsmpb.ConfiguredServer{{Name: "A", Cookie: "a"}, {Name: "B"}}
	add := func(name, addr, cookie string) []byte {
		return mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: name, Addr: addr, Cookie: cookie, Weight: 1, Configured: conf, Checked: true})
	}
	remove := func(name string) []byte {
		return mustEncode(t, RemoveServerType, &fsmpb.RemoveServer{Backend: "app", Name: name})
	}
	for _, tc := range []struct {
		name    string
		before  [][]byte
		entry   []byte
		errCode string
		errMsg  string
	}{
		{"same name, another address", [][]byte{add("C", "127.0.0.1:1", "")}, add("C", "127.0.0.1:2", ""),
			"exists", "server app/C already exists at 127.0.0.1:1: remove it first"},
		{"same name, same address: the same server", [][]byte{add("C", "127.0.0.1:1", "")}, add("C", "127.0.0.1:1", ""), "", ""},
		{"same cookie value", [][]byte{add("C", "127.0.0.1:1", "k")}, add("D", "127.0.0.1:2", "k"),
			"exists", `cookie value "k" already names server app/C`},
		{"cookie value defaults to the name", [][]byte{add("C", "127.0.0.1:1", "")}, add("D", "127.0.0.1:2", "C"),
			"exists", `cookie value "C" already names server app/C`},
		{"cookie value of a removed server is free", [][]byte{add("C", "127.0.0.1:1", "k"), remove("C")}, add("D", "127.0.0.1:2", "k"), "", ""},
		{"configured server exists", nil, add("A", "127.0.0.1:2", ""),
			"exists", "server app/A is in the config file and not removed"},
		{"configured server back once removed", [][]byte{remove("A")}, add("A", "127.0.0.1:2", "a"), "", ""},
		{"configured cookie value", nil, add("D", "127.0.0.1:2", "a"),
			"exists", `cookie value "a" already names server app/A`},
		{"configured cookie value defaults to the name", nil, add("D", "127.0.0.1:2", "B"),
			"exists", `cookie value "B" already names server app/B`},
		{"configured cookie value of a removed server is free", [][]byte{remove("B")}, add("D", "127.0.0.1:2", "B"), "", ""},
		{"another backend's cookie value is free", [][]byte{mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "other", Name: "C", Addr: "127.0.0.1:1", Cookie: "k", Checked: true})},
			add("D", "127.0.0.1:2", "k"), "", ""},
		{"unchecked entry applies as before", [][]byte{add("C", "127.0.0.1:1", "k")},
			mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "D", Addr: "127.0.0.1:2", Cookie: "k"}), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(nil)
			for _, c := range tc.before {
				if res := f.ApplyCommand(c); res.ErrorCode != "" {
					t.Fatal(res.Error)
				}
			}
			before := f.Servers().All()
			res := f.ApplyCommand(tc.entry)
			if res.ErrorCode != tc.errCode || !strings.Contains(res.Error, tc.errMsg) {
				t.Fatalf("result %q %q, want %q containing %q", res.ErrorCode, res.Error, tc.errCode, tc.errMsg)
			}
			if tc.errCode != "" && !maps.Equal(before, f.Servers().All()) {
				t.Fatalf("a refused entry changed the table: %v, was %v", f.Servers().All(), before)
			}
		})
	}
}
