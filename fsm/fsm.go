// Package fsm owns haraft's replicated state machine: the command registry,
// Apply, and snapshot/restore of the whole state (session bindings, the
// agreed admin and health state of every server, the nodes, and the EIP
// placements).
//
// Apply is deterministic: it reads nothing but the log entry and the state —
// no clock, no randomness, no I/O. Time enters the log stamped by the
// proposer. A log entry is one type byte followed by a protobuf payload
// (Consul's scheme): a payload that does not decode, or a type this binary
// does not know and that is not flagged ignorable, stops the node (a node
// that silently skipped entries would diverge from its peers). Business
// errors — a stale EIP term, an unknown session — are returned as values in
// fsmpb.ApplyResult.
package fsm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

// MessageType is the first byte of every haraft log entry.
type MessageType uint8

// The command types. Values are part of the on-disk format: never renumber.
const (
	LearnSessionsType     MessageType = 1
	DeleteSessionsType    MessageType = 2
	RebindSessionsType    MessageType = 3
	SetServerAdminType    MessageType = 4
	SetServerHealthType   MessageType = 5
	RegisterNodeType      MessageType = 6
	AssignEIPType         MessageType = 7
	ReportNodeStatusType  MessageType = 8
	SetServerWeightType   MessageType = 9
	AddServerType         MessageType = 10
	RemoveServerType      MessageType = 11
	ReportHealthViewsType MessageType = 12
	TouchSessionsType     MessageType = 13
	ExpireSessionsType    MessageType = 14
	SetDNSRecordType      MessageType = 15
	DiscoverServersType   MessageType = 16

	// IgnoreUnknownTypeFlag marks a command that an older binary may skip
	// instead of stopping, for commands that only add optional state.
	IgnoreUnknownTypeFlag MessageType = 128
)

// String names a command type as the registry does ("learn_sessions"), or
// "command type N" for one this binary does not know.
func (t MessageType) String() string {
	if c, ok := registry()[t&^IgnoreUnknownTypeFlag]; ok {
		return c.name
	}
	return fmt.Sprintf("command type %d", uint8(t))
}

// command is one entry of the registry: how to decode a payload and how to
// apply it to the state.
type command struct {
	name  string
	new   func() proto.Message
	apply func(s *State, msg proto.Message) *fsmpb.ApplyResult
}

// registry lists every command type this binary understands. It is built
// once and never mutated.
func registry() map[MessageType]command {
	return map[MessageType]command{
		LearnSessionsType: {"learn_sessions", func() proto.Message { return &fsmpb.LearnSessions{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyLearn(m.(*fsmpb.LearnSessions)) }},
		DeleteSessionsType: {"delete_sessions", func() proto.Message { return &fsmpb.DeleteSessions{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyDelete(m.(*fsmpb.DeleteSessions)) }},
		RebindSessionsType: {"rebind_sessions", func() proto.Message { return &fsmpb.RebindSessions{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyRebind(m.(*fsmpb.RebindSessions)) }},
		SetServerAdminType: {"set_server_admin", func() proto.Message { return &fsmpb.SetServerAdmin{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyServerAdmin(m.(*fsmpb.SetServerAdmin))
			}},
		SetServerHealthType: {"set_server_health", func() proto.Message { return &fsmpb.SetServerHealth{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyServerHealth(m.(*fsmpb.SetServerHealth))
			}},
		RegisterNodeType: {"register_node", func() proto.Message { return &fsmpb.RegisterNode{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyRegisterNode(m.(*fsmpb.RegisterNode))
			}},
		AssignEIPType: {"assign_eip", func() proto.Message { return &fsmpb.AssignEIP{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyAssignEIP(m.(*fsmpb.AssignEIP)) }},
		ReportNodeStatusType: {"report_node_status", func() proto.Message { return &fsmpb.ReportNodeStatus{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyNodeStatus(m.(*fsmpb.ReportNodeStatus))
			}},
		SetServerWeightType: {"set_server_weight", func() proto.Message { return &fsmpb.SetServerWeight{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyServerWeight(m.(*fsmpb.SetServerWeight))
			}},
		AddServerType: {"add_server", func() proto.Message { return &fsmpb.AddServer{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyAddServer(m.(*fsmpb.AddServer)) }},
		TouchSessionsType: {"touch_sessions", func() proto.Message { return &fsmpb.TouchSessions{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyTouch(m.(*fsmpb.TouchSessions)) }},
		ExpireSessionsType: {"expire_sessions", func() proto.Message { return &fsmpb.ExpireSessions{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult { return s.applyExpire(m.(*fsmpb.ExpireSessions)) }},
		ReportHealthViewsType: {"report_health_views", func() proto.Message { return &fsmpb.ReportHealthViews{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyHealthViews(m.(*fsmpb.ReportHealthViews))
			}},
		SetDNSRecordType: {"set_dns_record", func() proto.Message { return &fsmpb.SetDNSRecord{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applySetDNSRecord(m.(*fsmpb.SetDNSRecord))
			}},
		DiscoverServersType: {"discover_servers", func() proto.Message { return &fsmpb.DiscoverServers{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyDiscoverServers(m.(*fsmpb.DiscoverServers))
			}},
		RemoveServerType: {"remove_server", func() proto.Message { return &fsmpb.RemoveServer{} },
			func(s *State, m proto.Message) *fsmpb.ApplyResult {
				return s.applyRemoveServer(m.(*fsmpb.RemoveServer))
			}},
	}
}

// Encode builds a log entry: the type byte, then the deterministic protobuf
// encoding of msg.
func Encode(t MessageType, msg proto.Message) ([]byte, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %d: %w", t, err)
	}
	buf := make([]byte, 0, 1+len(payload))
	buf = append(buf, byte(t))
	return append(buf, payload...), nil
}

// FSM implements raft.FSM over a State.
type FSM struct {
	*State
	commands map[MessageType]command
	log      *slog.Logger
}

// New returns an FSM with empty state.
func New(log *slog.Logger) *FSM {
	if log == nil {
		log = slog.Default()
	}
	return &FSM{State: NewState(), commands: registry(), log: log}
}

var _ raft.FSM = (*FSM)(nil)

// Apply applies one committed log entry. It panics on an entry it cannot
// decode or whose type it does not know (unless flagged ignorable): going on
// would make this node's state differ from its peers'.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.State.applying = l.Index
	res := f.ApplyCommand(l.Data)
	f.State.applying = 0
	f.State.setApplied(l.Index)
	return res
}

// ApplyCommand decodes and applies one encoded command. It is Apply without
// the raft wrapper, for tests and tools that replay logs.
func (f *FSM) ApplyCommand(data []byte) *fsmpb.ApplyResult {
	if len(data) == 0 {
		panic("fsm: empty log entry")
	}
	t := MessageType(data[0])
	ignorable := t&IgnoreUnknownTypeFlag != 0
	t &^= IgnoreUnknownTypeFlag
	cmd, ok := f.commands[t]
	if !ok {
		if ignorable {
			f.log.Warn("fsm: skipping unknown ignorable command", "type", uint8(t))
			return &fsmpb.ApplyResult{ErrorCode: "unknown_type", Error: fmt.Sprintf("unknown ignorable command type %d", t)}
		}
		panic(fmt.Sprintf("fsm: unknown command type %d: this binary is older than the cluster's log; upgrade it", t))
	}
	msg := cmd.new()
	if err := proto.Unmarshal(data[1:], msg); err != nil {
		panic(fmt.Sprintf("fsm: decode %s: %v", cmd.name, err))
	}
	return cmd.apply(f.State, msg)
}

// Snapshot captures the state for raft; the expensive sort and write happen
// in Persist, off the apply path.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return f.State.capture(), nil
}

// Restore replaces the state with a snapshot's. A snapshot that is
// truncated, corrupt or of an unknown format is refused with an error and
// the current state is kept.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := ReadSnapshot(rc)
	if err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	f.State.replace(st)
	return nil
}

// Validate checks that data is a command this FSM can apply: a known (or
// ignorable) type whose payload decodes. The leader validates every
// proposal before it enters the log, since Apply stops the node on an
// entry it cannot decode.
func (f *FSM) Validate(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty command")
	}
	t := MessageType(data[0])
	ignorable := t&IgnoreUnknownTypeFlag != 0
	cmd, ok := f.commands[t&^IgnoreUnknownTypeFlag]
	if !ok {
		if ignorable {
			return nil
		}
		return fmt.Errorf("unknown command type %d", t)
	}
	if err := proto.Unmarshal(data[1:], cmd.new()); err != nil {
		return fmt.Errorf("%s: %w", cmd.name, err)
	}
	return nil
}
