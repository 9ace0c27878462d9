package fsm

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/proto/fsmpb"
)

// snapshotFormat is the version of the snapshot stream.
const snapshotFormat = 1

// maxRecordSize bounds one snapshot record, so a corrupt length prefix is an
// error instead of a huge allocation.
const maxRecordSize = 16 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// snapshot is a point-in-time copy of the state; Persist writes it as a
// stream of length-prefixed SnapshotRecords in a canonical order, so equal
// states give byte-identical snapshots.
type snapshot struct {
	applied  uint64 // the last command index the snapshot includes
	sessions []backendSessions
	servers  []*fsmpb.Server
	nodes    []*fsmpb.Node
	eips     []*fsmpb.EIP
	dns      []*fsmpb.DNSRecord
	statuses []*fsmpb.NodeStatus
	views    []*fsmpb.HealthView
}

func (s *State) capture() *snapshot {
	s.mu.RLock()
	snap := &snapshot{applied: s.applied.Load()}
	// Sessions are copied compactly (40 bytes each, sharing the key
	// strings and the name table); the sort and the encoding happen in
	// Persist, off the apply path.
	for backend, t := range s.sessions {
		bs := backendSessions{backend: backend, names: s.names, entries: make([]tableSlot, 0, t.len())}
		t.each(func(key string, b binding) bool {
			bs.entries = append(bs.entries, tableSlot{key: key, b: b})
			return true
		})
		snap.sessions = append(snap.sessions, bs)
	}
	for _, n := range s.nodes {
		snap.nodes = append(snap.nodes, cloneNode(n))
	}
	for _, e := range s.eips {
		snap.eips = append(snap.eips, cloneEIP(e))
	}
	for _, r := range s.dns {
		snap.dns = append(snap.dns, cloneDNSRecord(r))
	}
	for _, byNode := range s.views {
		for _, v := range byNode {
			snap.views = append(snap.views, cloneHealthView(v))
		}
	}
	for _, n := range s.nodeStatus {
		snap.statuses = append(snap.statuses, cloneNodeStatus(n))
	}
	s.mu.RUnlock()
	for k, v := range s.servers.Load().servers {
		snap.servers = append(snap.servers, serverRecord(k, v))
	}
	return snap
}

// WriteTo writes the snapshot stream.
func (sn *snapshot) WriteTo(w io.Writer) (int64, error) {
	slices.SortFunc(sn.sessions, func(a, b backendSessions) int { return cmp.Compare(a.backend, b.backend) })
	total := 0
	for i := range sn.sessions {
		sn.sessions[i].sort()
		total += len(sn.sessions[i].entries)
	}
	slices.SortFunc(sn.servers, func(a, b *fsmpb.Server) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(sn.nodes, func(a, b *fsmpb.Node) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(sn.eips, func(a, b *fsmpb.EIP) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(sn.dns, func(a, b *fsmpb.DNSRecord) int { return cmp.Compare(a.Id, b.Id) })
	slices.SortFunc(sn.statuses, func(a, b *fsmpb.NodeStatus) int { return cmp.Compare(a.NodeId, b.NodeId) })
	slices.SortFunc(sn.views, func(a, b *fsmpb.HealthView) int {
		return cmp.Or(cmp.Compare(a.Backend, b.Backend), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Node, b.Node))
	})

	rw := &recordWriter{w: bufio.NewWriterSize(w, 256<<10)}
	rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Header{Header: &fsmpb.SnapshotHeader{Format: snapshotFormat, Sessions: uint64(total), AppliedIndex: sn.applied}}})
	var rec []byte
	for _, bs := range sn.sessions {
		for _, o := range bs.order {
			e := &bs.entries[o.idx]
			rec = appendSessionRecord(rec[:0], bs.backend, e.key, bs.names[e.b.server], bs.names[e.b.learnedBy], e.b.created, e.b.lastSeen)
			rw.writeRaw(rec, true)
		}
	}
	for _, v := range sn.servers {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Server{Server: v}})
	}
	for _, n := range sn.nodes {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Node{Node: n}})
	}
	for _, e := range sn.eips {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Eip{Eip: e}})
	}
	for _, r := range sn.dns {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_DnsRecord{DnsRecord: r}})
	}
	for _, n := range sn.statuses {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_NodeStatus{NodeStatus: n}})
	}
	for _, v := range sn.views {
		rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_HealthView{HealthView: v}})
	}
	trailer := &fsmpb.SnapshotTrailer{Records: rw.records, Crc32C: rw.crc}
	rw.write(&fsmpb.SnapshotRecord{Record: &fsmpb.SnapshotRecord_Trailer{Trailer: trailer}})
	if rw.err == nil {
		rw.err = rw.w.Flush()
	}
	return rw.n, rw.err
}

// Persist implements raft.FSMSnapshot.
func (sn *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sn.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (sn *snapshot) Release() {}

type recordWriter struct {
	w       *bufio.Writer
	n       int64
	records uint64
	crc     uint32
	err     error
	lenBuf  [binary.MaxVarintLen64]byte
}

func (rw *recordWriter) write(r *fsmpb.SnapshotRecord) {
	if rw.err != nil {
		return
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		rw.err = err
		return
	}
	_, trailer := r.Record.(*fsmpb.SnapshotRecord_Trailer)
	rw.writeRaw(b, !trailer)
}

// writeRaw writes one encoded record; counted records enter the trailer's
// count and CRC.
func (rw *recordWriter) writeRaw(b []byte, counted bool) {
	if rw.err != nil {
		return
	}
	n := binary.PutUvarint(rw.lenBuf[:], uint64(len(b)))
	if _, err := rw.w.Write(rw.lenBuf[:n]); err != nil {
		rw.err = err
		return
	}
	if _, err := rw.w.Write(b); err != nil {
		rw.err = err
		return
	}
	rw.n += int64(n + len(b))
	if counted {
		rw.records++
		rw.crc = crc32.Update(rw.crc, crcTable, b)
	}
}

// ErrCorruptSnapshot is wrapped by every error ReadSnapshot returns for a
// stream that is truncated, corrupt or of an unknown format.
var ErrCorruptSnapshot = errors.New("corrupt or truncated snapshot")

// ReadSnapshot reads a snapshot stream into a new State. It checks the
// header, every record and the trailer's count and CRC.
func ReadSnapshot(r io.Reader) (*State, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	st := NewState()
	servers := map[ServerKey]ServerState{}
	var (
		records      uint64
		crc          uint32
		buf          []byte
		sessionsHint uint64
	)
	for {
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("%w: after %d records: no trailer (%v)", ErrCorruptSnapshot, records, err)
		}
		if size > maxRecordSize {
			return nil, fmt.Errorf("%w: record %d claims %d bytes", ErrCorruptSnapshot, records, size)
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, records, err)
		}
		if records > 0 {
			// Session records, almost all of a snapshot, are decoded
			// without the generic proto path (fsm/sessionwire.go).
			if w, ok := decodeSessionRecord(buf); ok {
				records++
				crc = crc32.Update(crc, crcTable, buf)
				st.restoreSession(&w, sessionsHint)
				continue
			}
		}
		var rec fsmpb.SnapshotRecord
		if err := proto.Unmarshal(buf, &rec); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptSnapshot, records, err)
		}
		if records == 0 {
			h := rec.GetHeader()
			if h == nil {
				return nil, fmt.Errorf("%w: first record is not a header", ErrCorruptSnapshot)
			}
			if h.Format != snapshotFormat {
				return nil, fmt.Errorf("%w: unknown format %d (this binary reads %d)", ErrCorruptSnapshot, h.Format, snapshotFormat)
			}
			// The header's count is only a size hint, read before the
			// CRC check: a corrupt count must not make the node allocate
			// gigabytes (or panic on a negative size) before refusing
			// (restoreHintCap).
			sessionsHint = h.Sessions
			st.applied.Store(h.AppliedIndex)
		}
		if t := rec.GetTrailer(); t != nil {
			if t.Records != records || t.Crc32C != crc {
				return nil, fmt.Errorf("%w: trailer says %d records crc %08x, read %d records crc %08x", ErrCorruptSnapshot, t.Records, t.Crc32C, records, crc)
			}
			st.servers.Store(&ServerTable{servers: servers})
			return st, nil
		}
		records++
		crc = crc32.Update(crc, crcTable, buf)
		switch v := rec.Record.(type) {
		case *fsmpb.SnapshotRecord_Header:
			if records != 1 {
				return nil, fmt.Errorf("%w: second header at record %d", ErrCorruptSnapshot, records)
			}
		case *fsmpb.SnapshotRecord_Session:
			st.putSession(v.Session.Backend, v.Session.Key, st.newBinding(v.Session))
		case *fsmpb.SnapshotRecord_Server:
			servers[ServerKey{v.Server.Backend, v.Server.Name}] = serverState(v.Server)
		case *fsmpb.SnapshotRecord_Node:
			st.nodes[v.Node.Id] = v.Node
		case *fsmpb.SnapshotRecord_Eip:
			st.eips[v.Eip.Id] = v.Eip
		case *fsmpb.SnapshotRecord_DnsRecord:
			st.dns[v.DnsRecord.Id] = v.DnsRecord
		case *fsmpb.SnapshotRecord_HealthView:
			st.putView(v.HealthView)
		case *fsmpb.SnapshotRecord_NodeStatus:
			st.nodeStatus[v.NodeStatus.NodeId] = v.NodeStatus
		default:
			return nil, fmt.Errorf("%w: record %d has no known content", ErrCorruptSnapshot, records)
		}
	}
}

// replace swaps in a restored state's contents, keeping s's identity (and
// its applied-index waiters).
func (s *State) replace(from *State) {
	s.mu.Lock()
	s.sessions = from.sessions
	s.names = from.names
	s.nameIDs = from.nameIDs
	s.nodes = from.nodes
	s.eips = from.eips
	s.dns = from.dns
	s.nodeStatus = from.nodeStatus
	s.views = from.views
	s.mu.Unlock()
	s.servers.Store(from.servers.Load())
	if a := from.applied.Load(); a > s.applied.Load() {
		s.setApplied(a)
	}
}
