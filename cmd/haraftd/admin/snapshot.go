package admin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
)

// A saved snapshot file is a magic line, a JSON header line, then the FSM
// snapshot stream exactly as Raft stores it (which carries its own record
// count and CRC):
//
//	haraft-snapshot v1
//	{"index":1234,"term":5,"node":"n1","saved_unix_ms":...}
//	<fsm snapshot stream>
const snapshotMagic = "haraft-snapshot v1\n"

// maxSnapshotBytes bounds a restore upload, which is held in memory while
// it is checked.
const maxSnapshotBytes = 4 << 30

// SnapshotHeader is the header line of a saved snapshot file.
type SnapshotHeader struct {
	Index       uint64 `json:"index"`
	Term        uint64 `json:"term"`
	Node        string `json:"node"`
	SavedUnixMs int64  `json:"saved_unix_ms"`
}

// snapshotChunk is the size of the chunks SnapshotSave streams.
const snapshotChunk = 256 << 10

// SnapshotSave takes a Raft snapshot on the leader and streams it.
func (s *Server) SnapshotSave(_ *adminpb.SnapshotSaveRequest, stream adminpb.Admin_SnapshotSaveServer) error {
	if err := s.leaderOnly("SnapshotSave"); err != nil {
		return err
	}
	fut := s.opts.Node.Raft().Snapshot()
	if err := fut.Error(); err != nil {
		return status.Errorf(codes.Unavailable, "snapshot: %v", err)
	}
	meta, rc, err := fut.Open()
	if err != nil {
		return status.Errorf(codes.Internal, "open snapshot: %v", err)
	}
	defer rc.Close()
	hdr, _ := json.Marshal(SnapshotHeader{Index: meta.Index, Term: meta.Term, Node: s.opts.NodeID, SavedUnixMs: time.Now().UnixMilli()})
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&adminpb.SnapshotChunk{Data: b}) }}
	bw := bufio.NewWriterSize(w, snapshotChunk)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	if _, err := bw.Write(append(hdr, '\n')); err != nil {
		return err
	}
	if _, err := io.Copy(bw, rc); err != nil {
		return status.Errorf(codes.Unavailable, "send snapshot: %v", err)
	}
	if err := bw.Flush(); err != nil {
		return status.Errorf(codes.Unavailable, "send snapshot: %v", err)
	}
	s.log.Info("admin: snapshot saved", "index", meta.Index, "bytes", meta.Size, "by", Caller(stream.Context()))
	return nil
}

type chunkWriter struct{ send func([]byte) error }

func (w *chunkWriter) Write(p []byte) (int, error) {
	if err := w.send(bytes.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ParseSnapshot checks a saved snapshot file and returns its header and
// FSM stream, and the state it holds.
func ParseSnapshot(data []byte) (hdr SnapshotHeader, stream []byte, st *fsm.State, err error) {
	rest, ok := bytes.CutPrefix(data, []byte(snapshotMagic))
	if !ok {
		return hdr, nil, nil, errors.New("not a haraft snapshot file (no \"haraft-snapshot v1\" line): was it made by `haraftctl snapshot save`?")
	}
	line, stream, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return hdr, nil, nil, errors.New("truncated snapshot: no header")
	}
	if err := json.Unmarshal(line, &hdr); err != nil {
		return hdr, nil, nil, fmt.Errorf("snapshot header: %w", err)
	}
	st, err = fsm.ReadSnapshot(bytes.NewReader(stream))
	if err != nil {
		return hdr, nil, nil, err
	}
	return hdr, stream, st, nil
}

// SnapshotRestore receives a saved snapshot, checks it whole, and has the
// leader install it: every node's state is replaced.
func (s *Server) SnapshotRestore(stream adminpb.Admin_SnapshotRestoreServer) error {
	if err := s.leaderOnly("SnapshotRestore"); err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if buf.Len()+len(c.Data) > maxSnapshotBytes {
			return status.Errorf(codes.ResourceExhausted, "snapshot larger than %d bytes", maxSnapshotBytes)
		}
		buf.Write(c.Data)
	}
	hdr, data, st, err := ParseSnapshot(buf.Bytes())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "refused, the cluster's state is unchanged: %v", err)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: hdr.Index, Term: hdr.Term, Size: int64(len(data))}
	if err := s.opts.Node.Raft().Restore(meta, bytes.NewReader(data), raftTimeout(stream.Context())); err != nil {
		return clusterStatus(fmt.Errorf("restore: %w", err))
	}
	s.log.Warn("admin: snapshot restored: the cluster's state was replaced", "index", hdr.Index, "saved_by", hdr.Node,
		"sessions", st.SessionCount(), "by", Caller(stream.Context()))
	return stream.SendAndClose(&adminpb.SnapshotRestoreResponse{Index: hdr.Index, Sessions: uint64(st.SessionCount())})
}
