package fsm

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

// applyTouch moves the sessions' last-seen time forward (never back, so a
// late or replayed touch is harmless).
func (s *State) applyTouch(m *fsmpb.TouchSessions) *fsmpb.ApplyResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.sessions[m.Backend]
	if t == nil {
		return &fsmpb.ApplyResult{}
	}
	for _, k := range m.Keys {
		if b, ok := t.get(k); ok && m.StampUnixMs > b.lastSeen {
			b.lastSeen = m.StampUnixMs
			t.put(k, b)
		}
	}
	return &fsmpb.ApplyResult{}
}

// applyExpire removes the backend's sessions idle or alive for too long at
// the leader's time carried by the command — never the local clock.
func (s *State) applyExpire(m *fsmpb.ExpireSessions) *fsmpb.ApplyResult {
	if m.MaxIdleMs <= 0 && m.MaxLifeMs <= 0 {
		return &fsmpb.ApplyResult{ErrorCode: "invalid", Error: "expire_sessions: neither max_idle_ms nor max_life_ms is set"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.sessions[m.Backend]
	if t == nil {
		return &fsmpb.ApplyResult{}
	}
	// A new leader may not have seen every touch yet (see leaderSince).
	since := leaderSince(m)
	n := t.deleteWhere(func(_ string, b binding) bool {
		idle := m.MaxIdleMs > 0 && m.NowUnixMs-max(b.lastSeen, since) > m.MaxIdleMs
		old := m.MaxLifeMs > 0 && m.NowUnixMs-b.created > m.MaxLifeMs
		return idle || old
	})
	return &fsmpb.ApplyResult{Count: int64(n)}
}

// leaderSince is when, by the leader's clock, the leader proposing m took
// over: no session counts idle from before it. Touches are proposed by
// every node in batches, through the leader; those proposed while there
// was no leader, or in flight to the one that died, are retried by their
// node (proxy's Learner keeps failed touches) and reach the new leader
// only after it took over, each within a touch interval (a quarter of
// maxidle). Until maxidle after the takeover a session's real last use
// may be such a touch the new leader has not committed yet, so it must
// not expire it for idleness; after that, every such touch has had
// several intervals to be committed. The bound is carried in the entry,
// so every node removes exactly the same sessions. Entries without it
// (written before it existed) have no such bound: 0.
func leaderSince(m *fsmpb.ExpireSessions) int64 {
	if m.LedForMs == nil {
		return 0
	}
	return m.NowUnixMs - max(m.GetLedForMs(), 0)
}

// StampLeaderTime sets the time fields of a command to the leader's clock
// as it enters the log: created/last-seen of learned and rebound sessions,
// touch stamps and the expiry's "now". Other commands pass unchanged. Apply
// then only ever compares times that one clock — the leader's — wrote.
func StampLeaderTime(data []byte, now time.Time) ([]byte, error) {
	if len(data) == 0 {
		return data, nil
	}
	ms := now.UnixMilli()
	var msg proto.Message
	t := MessageType(data[0])
	switch t {
	case LearnSessionsType:
		m := &fsmpb.LearnSessions{}
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return nil, fmt.Errorf("stamp: %w", err)
		}
		for _, b := range m.Bindings {
			b.CreatedUnixMs, b.LastSeenUnixMs = ms, ms
		}
		msg = m
	case RebindSessionsType:
		m := &fsmpb.RebindSessions{}
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return nil, fmt.Errorf("stamp: %w", err)
		}
		for _, b := range m.Bindings {
			b.LastSeenUnixMs = ms
			if b.CreatedUnixMs == 0 {
				b.CreatedUnixMs = ms
			}
		}
		msg = m
	case TouchSessionsType:
		m := &fsmpb.TouchSessions{}
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return nil, fmt.Errorf("stamp: %w", err)
		}
		m.StampUnixMs = ms
		msg = m
	case ExpireSessionsType:
		m := &fsmpb.ExpireSessions{}
		if err := proto.Unmarshal(data[1:], m); err != nil {
			return nil, fmt.Errorf("stamp: %w", err)
		}
		m.NowUnixMs = ms
		msg = m
	default:
		return data, nil
	}
	return Encode(t, msg)
}
