package fsm

import (
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Session records are nearly all of a snapshot: at a million sessions,
// encoding each through proto.Marshal and decoding it through
// proto.Unmarshal cost seconds and a few hundred MB of garbage. They are
// written and read here with protowire instead, byte for byte as the
// generated code would (fields in number order, zero values left out;
// sessionwire_test.go checks it against proto.Marshal). A record the fast
// reader does not recognise exactly goes through proto.Unmarshal, which
// keeps the refusals (bad UTF-8, bad wire types) as they were.

// Field numbers of SnapshotRecord.session and of Binding.
const (
	recordSessionField = 2
	bindingBackend     = 1
	bindingKey         = 2
	bindingServer      = 3
	bindingCreated     = 4
	bindingLearnedBy   = 5
	bindingLastSeen    = 6
)

func sizeStringField(num protowire.Number, v string) int {
	if v == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func sizeVarintField(num protowire.Number, v int64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(uint64(v))
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendVarintField(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendSessionRecord appends the encoding of
// SnapshotRecord{session: Binding{...}}.
func appendSessionRecord(b []byte, backend, key, server, learnedBy string, created, lastSeen int64) []byte {
	size := sizeStringField(bindingBackend, backend) + sizeStringField(bindingKey, key) + sizeStringField(bindingServer, server) +
		sizeVarintField(bindingCreated, created) + sizeStringField(bindingLearnedBy, learnedBy) + sizeVarintField(bindingLastSeen, lastSeen)
	b = protowire.AppendTag(b, recordSessionField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	b = appendStringField(b, bindingBackend, backend)
	b = appendStringField(b, bindingKey, key)
	b = appendStringField(b, bindingServer, server)
	b = appendVarintField(b, bindingCreated, created)
	b = appendStringField(b, bindingLearnedBy, learnedBy)
	return appendVarintField(b, bindingLastSeen, lastSeen)
}

// wireSession is a decoded session record; its byte slices point into the
// record.
type wireSession struct {
	backend, key, server, learnedBy []byte
	created, lastSeen               int64
}

// decodeSessionRecord decodes a SnapshotRecord holding only a session
// whose fields are all known, well-typed and valid UTF-8.
func decodeSessionRecord(rec []byte) (w wireSession, ok bool) {
	num, typ, n := protowire.ConsumeTag(rec)
	if n < 0 || num != recordSessionField || typ != protowire.BytesType {
		return w, false
	}
	inner, m := protowire.ConsumeBytes(rec[n:])
	if m < 0 || n+m != len(rec) {
		return w, false
	}
	for len(inner) > 0 {
		num, typ, n := protowire.ConsumeTag(inner)
		if n < 0 {
			return w, false
		}
		inner = inner[n:]
		switch {
		case typ == protowire.BytesType && (num == bindingBackend || num == bindingKey || num == bindingServer || num == bindingLearnedBy):
			v, n := protowire.ConsumeBytes(inner)
			if n < 0 || !utf8.Valid(v) {
				return w, false
			}
			inner = inner[n:]
			switch num {
			case bindingBackend:
				w.backend = v
			case bindingKey:
				w.key = v
			case bindingServer:
				w.server = v
			default:
				w.learnedBy = v
			}
		case typ == protowire.VarintType && (num == bindingCreated || num == bindingLastSeen):
			v, n := protowire.ConsumeVarint(inner)
			if n < 0 {
				return w, false
			}
			inner = inner[n:]
			if num == bindingCreated {
				w.created = int64(v)
			} else {
				w.lastSeen = int64(v)
			}
		default:
			return w, false
		}
	}
	return w, true
}

// restoreSession adds a decoded session to a state being restored. Only
// the key is copied; backend and names are looked up without allocating.
func (s *State) restoreSession(w *wireSession, hint uint64) {
	t := s.sessions[string(w.backend)]
	if t == nil {
		if len(s.sessions) == 0 {
			t = newSessionTableFor(int(min(hint, restoreHintCap)))
		} else {
			t = newSessionTable()
		}
		s.sessions[string(w.backend)] = t
	}
	t.put(string(w.key), binding{server: s.nameIDBytes(w.server), learnedBy: s.nameIDBytes(w.learnedBy), created: w.created, lastSeen: max(w.lastSeen, w.created)})
}

func (s *State) nameIDBytes(v []byte) uint32 {
	if id, ok := s.nameIDs[string(v)]; ok {
		return id
	}
	return s.nameID(string(v))
}

// backendSessions is one backend's sessions as a snapshot captured them.
type backendSessions struct {
	backend string
	names   []string // State.names when captured (it only grows)
	entries []tableSlot
	order   []sortKey // entries' order by key, filled by sort
}

// sortKey orders a captured session: prefix holds its key's first 8 bytes
// big-endian (zero-padded), so the sort compares integers, moves 16
// pointer-free bytes, and reads the keys only on a tie.
type sortKey struct {
	prefix uint64
	idx    uint32
}

func (bs *backendSessions) sort() {
	bs.order = make([]sortKey, len(bs.entries))
	for i := range bs.entries {
		bs.order[i] = sortKey{prefix: keyPrefix(bs.entries[i].key), idx: uint32(i)}
	}
	slices.SortFunc(bs.order, func(a, b sortKey) int {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return strings.Compare(bs.entries[a.idx].key, bs.entries[b.idx].key)
	})
}

func keyPrefix(k string) uint64 {
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// restoreHintCap bounds the table preallocated from a snapshot header's
// session count (read before the CRC is checked).
const restoreHintCap = 1 << 20
