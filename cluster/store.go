package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// ErrDataDir is wrapped by every refusal to use a data dir.
var ErrDataDir = errors.New("data dir refused")

// dataDir is the on-disk layout of one node.
type dataDir struct {
	root      string
	raftDB    string // log + stable store
	snapshots string // raft file snapshots
	nodeID    string // file holding the node id that owns the dir
}

func layout(root string) dataDir {
	return dataDir{
		root:      root,
		raftDB:    filepath.Join(root, "raft", "raft.db"),
		snapshots: filepath.Join(root, "raft"),
		nodeID:    filepath.Join(root, "node-id"),
	}
}

// prepare creates the data dir or checks an existing one: it must belong to
// this node, and its boltdb file must be whole. A damaged dir is refused
// with a message naming the file; it is never reset.
func (d dataDir) prepare(nodeID string) error {
	if err := os.MkdirAll(filepath.Join(d.root, "raft"), 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrDataDir, err)
	}
	owner, err := os.ReadFile(d.nodeID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, statErr := os.Stat(d.raftDB); statErr == nil {
			return fmt.Errorf("%w: %s exists but %s is missing: cannot tell which node owns this data", ErrDataDir, d.raftDB, d.nodeID)
		}
		if err := os.WriteFile(d.nodeID, []byte(nodeID+"\n"), 0o600); err != nil {
			return fmt.Errorf("%w: %v", ErrDataDir, err)
		}
	case err != nil:
		return fmt.Errorf("%w: %v", ErrDataDir, err)
	default:
		if got := strings.TrimSpace(string(owner)); got != nodeID {
			return fmt.Errorf("%w: %s belongs to node %q, not %q", ErrDataDir, d.root, got, nodeID)
		}
	}
	return d.checkBolt()
}

// checkBolt opens an existing raft.db read-only and runs bbolt's consistency
// check. bbolt would silently initialise an empty file, so a zero-length
// file is refused too.
func (d dataDir) checkBolt() (err error) {
	fi, statErr := os.Stat(d.raftDB)
	if errors.Is(statErr, os.ErrNotExist) {
		snaps, _ := filepath.Glob(filepath.Join(d.snapshots, "snapshots", "*", "meta.json"))
		if len(snaps) > 0 {
			return fmt.Errorf("%w: %s is missing but %d snapshot(s) exist: the log is lost; move the data dir away to rejoin this node empty", ErrDataDir, d.raftDB, len(snaps))
		}
		return nil
	}
	if statErr != nil {
		return fmt.Errorf("%w: %v", ErrDataDir, statErr)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s is empty (truncated); refusing to start. Restore it, or move the data dir away to rejoin this node empty", ErrDataDir, d.raftDB)
	}
	if err := checkBoltMeta(d.raftDB, fi.Size()); err != nil {
		return fmt.Errorf("%w: %s is corrupt or truncated (%v); refusing to start. Restore it, or move the data dir away to rejoin this node empty", ErrDataDir, d.raftDB, err)
	}
	db, err := bolt.Open(d.raftDB, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("%w: %s is locked by another process (is another haraftd running on this data dir?)", ErrDataDir, d.raftDB)
		}
		return fmt.Errorf("%w: %s is corrupt or truncated (%v); refusing to start. Restore it, or move the data dir away to rejoin this node empty", ErrDataDir, d.raftDB, err)
	}
	defer db.Close()
	if err := walkBolt(db); err != nil {
		return fmt.Errorf("%w: %s is corrupt (%v); refusing to start. Restore it, or move the data dir away to rejoin this node empty", ErrDataDir, d.raftDB, err)
	}
	return nil
}

// walkBolt reads every key and value of every bucket. bbolt panics on a
// damaged page; the walk runs in this goroutine, so the panic is recovered
// and reported (bbolt's own Tx.Check panics in a goroutine of its own,
// which nothing can recover).
func walkBolt(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged page: %v", r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error { return nil })
		})
	})
}

func (d dataDir) openStore() (*raftboltdb.BoltStore, error) {
	store, err := raftboltdb.New(raftboltdb.Options{Path: d.raftDB, BoltOptions: &bolt.Options{Timeout: 2 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrDataDir, d.raftDB, err)
	}
	return store, nil
}

// The stable store's ownership keys: the node id and the cluster id the
// log belongs to. They live in raft.db itself, so a raft.db copied from
// another node or another cluster is refused whatever the side files
// (node-id) say.
var (
	keyNodeID    = []byte("haraft/node_id")
	keyClusterID = []byte("haraft/cluster_id")
)

// checkOwner refuses a raft.db that records another node id, or another
// cluster id than clusterID (when set). A raft.db that records none (a
// new one, or one written before these keys existed) is stamped with
// them, so existing data dirs upgrade on their first start.
func (d dataDir) checkOwner(s *raftboltdb.BoltStore, nodeID, clusterID string, log *slog.Logger) error {
	refuse := "refusing to start. Put this node's own raft.db back, or move the data dir away to rejoin this node empty"
	owner, err := s.Get(keyNodeID)
	switch {
	case err == nil:
		if string(owner) != nodeID {
			return fmt.Errorf("%w: %s is node %q's log, not %q's (recorded in it; the node-id file does not decide); %s", ErrDataDir, d.raftDB, owner, nodeID, refuse)
		}
	case errors.Is(err, raftboltdb.ErrKeyNotFound):
		if err := s.Set(keyNodeID, []byte(nodeID)); err != nil {
			return fmt.Errorf("%w: %s: recording the node id: %v", ErrDataDir, d.raftDB, err)
		}
	default:
		return fmt.Errorf("%w: %s: reading the node id: %v", ErrDataDir, d.raftDB, err)
	}
	if clusterID == "" {
		return nil
	}
	cluster, err := s.Get(keyClusterID)
	switch {
	case err == nil:
		if string(cluster) != clusterID {
			return fmt.Errorf("%w: %s belongs to cluster %q, not %q (raft.cluster_id); %s", ErrDataDir, d.raftDB, cluster, clusterID, refuse)
		}
	case errors.Is(err, raftboltdb.ErrKeyNotFound):
		if err := s.Set(keyClusterID, []byte(clusterID)); err != nil {
			return fmt.Errorf("%w: %s: recording the cluster id: %v", ErrDataDir, d.raftDB, err)
		}
		log.Info("recorded the cluster id in the stable store", "file", d.raftDB, "cluster_id", clusterID)
	default:
		return fmt.Errorf("%w: %s: reading the cluster id: %v", ErrDataDir, d.raftDB, err)
	}
	return nil
}
