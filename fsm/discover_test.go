package fsm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/proto/fsmpb"
)

func discoverStep(add []string, deregister, restore, remove []string) *fsmpb.DiscoverServers {
	m := &fsmpb.DiscoverServers{Backend: "app", Source: "ec2", StampUnixMs: 1000, Deregister: deregister, Restore: restore, Remove: remove}
	for _, a := range add {
		name, addr, _ := strings.Cut(a, "=")
		m.Add = append(m.Add, &fsmpb.AddServer{Backend: "app", Name: name, Addr: addr, Weight: 1,
			Configured: []*fsmpb.ConfiguredServer{{Name: "A"}}})
	}
	return m
}

// Each step of discovery applies at one index on every node; its parts
// are checked one by one against the table.
func TestDiscoverServersSteps(t *testing.T) {
	tests := []struct {
		name    string
		steps   [][]byte // each applied at index 1, 2, ...
		errCode string   // of the last step
		want    map[string]ServerState
	}{
		{
			name:  "two targets added at one index",
			steps: [][]byte{mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80", "i-2=10.0.0.2:80"}, nil, nil, nil))},
			want: map[string]ServerState{
				"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1},
				"i-2": {Addr: "10.0.0.2:80", Cookie: "i-2", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1},
			},
		},
		{
			name: "deregistered then removed",
			steps: [][]byte{
				mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80"}, nil, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, []string{"i-1"}, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, nil, nil, []string{"i-1"})),
			},
			want: map[string]ServerState{"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Removed: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1}},
		},
		{
			name: "restored before removal",
			steps: [][]byte{
				mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80"}, nil, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, []string{"i-1"}, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, nil, []string{"i-1"}, nil)),
			},
			want: map[string]ServerState{"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1}},
		},
		{
			name: "deregistering keeps sessions, takes no new ones",
			steps: [][]byte{
				mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80"}, nil, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, []string{"i-1"}, nil, nil)),
			},
			want: map[string]ServerState{"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1, Deregistering: 1000}},
		},
		{
			name: "a server not yet deregistered is not removed",
			steps: [][]byte{
				mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80"}, nil, nil, nil)),
				mustEncode(t, DiscoverServersType, discoverStep(nil, nil, nil, []string{"i-1"})),
			},
			errCode: "partial",
			want:    map[string]ServerState{"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1}},
		},
		{
			name: "configured and operator-added servers are not discovery's",
			steps: [][]byte{
				mustEncode(t, AddServerType, &fsmpb.AddServer{Backend: "app", Name: "C", Addr: "10.0.0.9:80", Weight: 2, Checked: true}),
				mustEncode(t, DiscoverServersType, discoverStep([]string{"A=10.0.0.7:80", "C=10.0.0.9:80", "i-3=10.0.0.3:80"}, []string{"A", "C"}, nil, []string{"C"})),
			},
			errCode: "partial",
			want: map[string]ServerState{
				"A":   {},
				"C":   {Addr: "10.0.0.9:80", Cookie: "C", Dynamic: true, Weight: 2, WeightSet: true},
				"i-3": {Addr: "10.0.0.3:80", Cookie: "i-3", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 2},
			},
		},
		{
			name: "another source's server is not touched",
			steps: [][]byte{
				mustEncode(t, DiscoverServersType, discoverStep([]string{"i-1=10.0.0.1:80"}, nil, nil, nil)),
				mustEncode(t, DiscoverServersType, &fsmpb.DiscoverServers{Backend: "app", Source: "dns", StampUnixMs: 5, Deregister: []string{"i-1"}}),
			},
			errCode: "partial",
			want:    map[string]ServerState{"i-1": {Addr: "10.0.0.1:80", Cookie: "i-1", Dynamic: true, Weight: 1, WeightSet: true, Source: "ec2", AddedIndex: 1}},
		},
		{
			name:    "a step without a source is refused",
			steps:   [][]byte{mustEncode(t, DiscoverServersType, &fsmpb.DiscoverServers{Backend: "app"})},
			errCode: "invalid",
			want:    map[string]ServerState{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			var last *fsmpb.ApplyResult
			for i, e := range tt.steps {
				last = f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e}).(*fsmpb.ApplyResult)
			}
			if last.ErrorCode != tt.errCode {
				t.Fatalf("error code %q (%s), want %q", last.ErrorCode, last.Error, tt.errCode)
			}
			for name, want := range tt.want {
				if got := f.Servers().Get("app", name); got != want {
					t.Errorf("%s: got %+v\nwant %+v", name, got, want)
				}
			}
			if dereg := f.Servers().Get("app", "i-1"); dereg.Deregistering != 0 && (dereg.Usable() || !dereg.KeepsSessions()) {
				t.Errorf("deregistering server: usable %v, keeps sessions %v; want false, true", dereg.Usable(), dereg.KeepsSessions())
			}
			// The discovered fields survive a snapshot.
			snap := snapshotBytes(t, f)
			g := New(nil)
			if err := g.Restore(nopCloser{bytes.NewReader(snap)}); err != nil {
				t.Fatal(err)
			}
			for name := range tt.want {
				if a, b := f.Servers().Get("app", name), g.Servers().Get("app", name); a != b {
					t.Errorf("%s after restore: %+v, was %+v", name, b, a)
				}
			}
		})
	}
}
