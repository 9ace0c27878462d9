package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An unknown learned session is looked up again after catching up with the
// leader; a node that cannot catch up refuses the request instead of
// balancing it (the session may live on another server).
func TestUnknownSessionCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		catchUp  func(st *stubState) func(context.Context) error
		want     string // server; "" with wantErr
		wantErr  error
		failures uint64
	}{
		{"no cluster to catch up with: balanced as new", nil, "A", nil, 0},
		{"caught up, still unknown: balanced as new", func(*stubState) func(context.Context) error {
			return func(context.Context) error { return nil }
		}, "A", nil, 0},
		{"caught up, committed meanwhile: its server", func(st *stubState) func(context.Context) error {
			return func(context.Context) error {
				st.mu.Lock()
				st.sessions["s1"] = "B"
				st.mu.Unlock()
				return nil
			}
		}, "B", nil, 0},
		{"cannot catch up: refused", func(*stubState) func(context.Context) error {
			return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		}, "", ErrSessionUnknown, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBackend(BackendOptions{Name: "app", Cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn},
				Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Weight: 1}, {Name: "B", Addr: "127.0.0.1:2", Weight: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			st := &stubState{sessions: map[string]string{}}
			o := LearnerOptions{NodeID: "n1", Logger: quietLogger(), CatchUpWait: 20 * time.Millisecond}
			var c Cluster // nil: no catch-up
			if tc.catchUp != nil {
				c = &fakeCluster{catchUp: tc.catchUp(st)}
			}
			l := NewLearner(c, o) // not run: nothing is proposed
			r, err := b.route(st, l, []string{"JSESSIONID=s1"}, "10.0.0.1")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && r.server.Name != tc.want {
				t.Fatalf("routed to %s, want %s", r.server.Name, tc.want)
			}
			if got := l.Stats().CatchUpFailures; got != tc.failures {
				t.Fatalf("%d catch-up failures counted, want %d", got, tc.failures)
			}
		})
	}
}

// A Cookie header naming the session cookie twice with different values is
// malformed: it can never be one session just created elsewhere, so an
// unknown first value is balanced as new without waiting for the leader
// (during an election that wait would fail and refuse the request). A
// known first value still routes to its server.
func TestAmbiguousCookieNeedsNoCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    []string
		want     string
		catchUps uint64
	}{
		{"two values, unknown: no catch-up", []string{"JSESSIONID=A~; JSESSIONID=B~x"}, "A", 0},
		{"two lines, unknown: no catch-up", []string{"JSESSIONID=u1", "JSESSIONID=u2"}, "A", 0},
		{"two values, first known: its server", []string{"JSESSIONID=known; JSESSIONID=other"}, "B", 0},
		{"same value twice: a session, caught up", []string{"JSESSIONID=u1; JSESSIONID=u1"}, "", 1},
		{"once, unknown: caught up", []string{"JSESSIONID=u1"}, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBackend(BackendOptions{Name: "app", Cookie: &CookieOptions{Name: "JSESSIONID", Mode: ModeLearn},
				Servers: []ServerOptions{{Name: "A", Addr: "127.0.0.1:1", Weight: 1}, {Name: "B", Addr: "127.0.0.1:2", Weight: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			st := &stubState{sessions: map[string]string{"known": "B"}}
			// The leader is unreachable: every catch-up fails.
			l := NewLearner(&fakeCluster{catchUp: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
				LearnerOptions{NodeID: "n1", Logger: quietLogger(), CatchUpWait: 20 * time.Millisecond})
			r, err := b.route(st, l, tc.lines, "10.0.0.1")
			if got := l.Stats().CatchUps; got != tc.catchUps {
				t.Fatalf("%d catch-ups, want %d", got, tc.catchUps)
			}
			if tc.want == "" {
				if !errors.Is(err, ErrSessionUnknown) {
					t.Fatalf("err %v, want ErrSessionUnknown (catch-up failed)", err)
				}
				return
			}
			if err != nil || r.server.Name != tc.want {
				t.Fatalf("routed to %v (err %v), want %s", r.server, err, tc.want)
			}
		})
	}
}
