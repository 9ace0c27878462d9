package cluster

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/fsm"
)

// Checks of the file snapshots before Raft starts.
//
// hashicorp/raft's FileSnapshotStore, on start, skips a snapshot whose
// meta.json it cannot read or whose version it does not know (a warning in
// its log), and falls back to an older snapshot when the newest fails its
// CRC or the FSM refuses it. Either way the node may come up with a state
// older than the compacted log assumes: NewRaft then panics on the first
// missing entry ("log not found"), or, when every snapshot fails, returns
// "failed to load any existing snapshots" without naming a file. A haraft
// node instead refuses its data dir with a message naming the damaged
// snapshot, and never resets it.

// snapshotsDir is where raft.FileSnapshotStore keeps its snapshots.
func (d dataDir) snapshotsDir() string { return filepath.Join(d.snapshots, "snapshots") }

const refuseHint = "refusing to start. Restore it, or move the data dir away to rejoin this node empty"

type snapshotOnDisk struct {
	dir  string
	meta struct {
		raft.SnapshotMeta
		CRC []byte
	}
}

// listSnapshots reads the meta.json of every finished snapshot, newest
// first, as raft orders them. A snapshot whose meta.json is unreadable or
// of an unknown version is an error: raft would silently skip it.
func (d dataDir) listSnapshots() ([]*snapshotOnDisk, error) {
	entries, err := os.ReadDir(d.snapshotsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	var out []*snapshotOnDisk
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") { // .tmp: unfinished, raft ignores and reaps it
			continue
		}
		s := &snapshotOnDisk{dir: filepath.Join(d.snapshotsDir(), e.Name())}
		metaPath := filepath.Join(s.dir, "meta.json")
		b, err := os.ReadFile(metaPath)
		if err == nil {
			err = json.Unmarshal(b, &s.meta)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot %s is unreadable (%v); %s", ErrDataDir, metaPath, err, refuseHint)
		}
		if v := s.meta.Version; v < raft.SnapshotVersionMin || v > raft.SnapshotVersionMax {
			return nil, fmt.Errorf("%w: snapshot %s has version %d, this binary reads %d..%d; %s", ErrDataDir, metaPath, v, raft.SnapshotVersionMin, raft.SnapshotVersionMax, refuseHint)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *snapshotOnDisk) int {
		return -cmp.Or(cmp.Compare(a.meta.Term, b.meta.Term), cmp.Compare(a.meta.Index, b.meta.Index), cmp.Compare(a.meta.ID, b.meta.ID))
	})
	return out, nil
}

// checkSnapshots refuses a data dir whose newest snapshot is truncated or
// fails its CRC, or whose log was compacted past every snapshot.
func (d dataDir) checkSnapshots(logs raft.LogStore) error {
	snaps, err := d.listSnapshots()
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		if err := snaps[0].verify(); err != nil {
			return err
		}
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("%w: reading %s: %v", ErrDataDir, d.raftDB, err)
	}
	if first > 1 {
		switch {
		case len(snaps) == 0:
			return fmt.Errorf("%w: the log in %s starts at index %d but there is no snapshot in %s to cover the entries before it; %s", ErrDataDir, d.raftDB, first, d.snapshotsDir(), refuseHint)
		case snaps[0].meta.Index+1 < first:
			return fmt.Errorf("%w: the log in %s starts at index %d but the newest snapshot %s ends at %d: entries are missing; %s", ErrDataDir, d.raftDB, first, snaps[0].dir, snaps[0].meta.Index, refuseHint)
		}
	}
	return nil
}

// verify checks state.bin against meta.json: size, then CRC-64 (as
// FileSnapshotStore.Open does, but with a message naming the file).
func (s *snapshotOnDisk) verify() error {
	state := filepath.Join(s.dir, "state.bin")
	f, err := os.Open(state)
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %v; %s", ErrDataDir, s.dir, err, refuseHint)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %v", ErrDataDir, state, err)
	}
	if fi.Size() != s.meta.Size {
		return fmt.Errorf("%w: snapshot %s is truncated or damaged: %d bytes, its meta.json says %d; %s", ErrDataDir, state, fi.Size(), s.meta.Size, refuseHint)
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%w: snapshot %s: %v; %s", ErrDataDir, state, err, refuseHint)
	}
	if !bytes.Equal(h.Sum(nil), s.meta.CRC) {
		return fmt.Errorf("%w: snapshot %s is corrupt (CRC-64 mismatch); %s", ErrDataDir, state, refuseHint)
	}
	return nil
}

// newestRefused reports why the FSM refuses the newest snapshot, or nil.
// It reads the whole snapshot, so it runs only on error paths.
func (d dataDir) newestRefused() error {
	snaps, err := d.listSnapshots()
	if err != nil || len(snaps) == 0 {
		return err
	}
	state := filepath.Join(snaps[0].dir, "state.bin")
	f, err := os.Open(state)
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %v; %s", ErrDataDir, state, err, refuseHint)
	}
	defer f.Close()
	if _, err := fsm.ReadSnapshot(f); err != nil {
		return fmt.Errorf("%w: snapshot %s was refused: %v; %s", ErrDataDir, state, err, refuseHint)
	}
	return nil
}

// newRaftChecked is raft.NewRaft with its start-up failures made clear: a
// snapshot the FSM refuses is named, and the panic NewRaft raises on a log
// entry missing after the snapshot it restored (it falls back to an older
// snapshot when the newest is refused) becomes an error.
func (d dataDir) newRaftChecked(newRaft func() (*raft.Raft, error)) (r *raft.Raft, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: raft could not read its log after restoring a snapshot (%v): the log in %s and the snapshots in %s do not fit together; %s", ErrDataDir, p, d.raftDB, d.snapshotsDir(), refuseHint)
			if why := d.newestRefused(); why != nil {
				r, err = nil, why
			}
		}
	}()
	r, err = newRaft()
	if err != nil && strings.Contains(err.Error(), "failed to load any existing snapshots") {
		if why := d.newestRefused(); why != nil {
			return nil, why
		}
		return nil, fmt.Errorf("%w: no snapshot in %s could be restored (raft: %v); %s", ErrDataDir, d.snapshotsDir(), err, refuseHint)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	return r, nil
}
