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
	n := t.deleteWhere(func(_ string, b binding) bool {
		idle := m.MaxIdleMs > 0 && m.NowUnixMs-b.lastSeen > m.MaxIdleMs
		old := m.MaxLifeMs > 0 && m.NowUnixMs-b.created > m.MaxLifeMs
		return idle || old
	})
	return &fsmpb.ApplyResult{Count: int64(n)}
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
