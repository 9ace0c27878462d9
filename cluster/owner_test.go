package cluster

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// A raft.db belongs to the node and the cluster recorded in it, whatever
// the node-id side file says: node2's raft.db copied into node1's data dir
// (node1's node-id file kept) is refused, and so is a raft.db of another
// cluster, each with the file named.
func TestRaftDBOfAnotherOwnerRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		swap    func(t *testing.T, tc *testCluster) // before node 1 starts again
		cluster func(i int) string                  // ClusterID of node i at the restart
		want    string
	}{
		{"node2's raft.db in node1's dir", func(t *testing.T, tc *testCluster) {
			copyFile(t, layout(tc.dirs[1]).raftDB, layout(tc.dirs[0]).raftDB)
		}, nil, `is node "n2"'s log, not "n1"'s`},
		{"another cluster's raft.db", nil, func(int) string { return "staging" }, `belongs to cluster "prod", not "staging"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, lns := reserveCluster(t, 3, func(int) string { return t.TempDir() })
			for i, ln := range lns {
				cfg := c.config(i, ln)
				cfg.ClusterID = "prod"
				n, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				c.nodes[i] = n
			}
			t.Cleanup(c.shutdownAll)
			c.waitReady()
			c.shutdownAll()
			if tc.swap != nil {
				tc.swap(t, c)
			}
			if got, err := os.ReadFile(filepath.Join(c.dirs[0], "node-id")); err != nil || strings.TrimSpace(string(got)) != "n1" {
				t.Fatalf("node-id side file: %q, %v", got, err)
			}
			ln := listenLoopback(t)
			defer ln.Close()
			cfg := c.config(0, ln)
			cfg.ClusterID = "prod"
			if tc.cluster != nil {
				cfg.ClusterID = tc.cluster(0)
			}
			n, err := New(cfg)
			if err == nil {
				n.Shutdown(context.Background())
				t.Fatal("node 1 started")
			}
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), layout(c.dirs[0]).raftDB) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %q; want ErrDataDir naming %s and saying %q", err, layout(c.dirs[0]).raftDB, tc.want)
			}
		})
	}
}

// A raft.db written before the ownership keys existed is stamped with them
// on its first start (and is then refused to another node).
func TestRaftDBWithoutOwnerIsStamped(t *testing.T) {
	dir := t.TempDir()
	d := layout(dir)
	if err := d.prepare("n1"); err != nil {
		t.Fatal(err)
	}
	old, err := raftboltdb.NewBoltStore(d.raftDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetUint64([]byte("CurrentTerm"), 7); err != nil { // existing state, as raft writes it
		t.Fatal(err)
	}
	old.Close()

	s, err := d.openStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.checkOwner(s, "n1", "prod", quietLogger()); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{string(keyNodeID): "n1", string(keyClusterID): "prod"} {
		if got, err := s.Get([]byte(key)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
	}
	if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
		t.Errorf("the existing state changed: term %d, %v", term, err)
	}
	for _, o := range []struct{ node, cluster string }{{"n2", "prod"}, {"n1", "staging"}} {
		if err := d.checkOwner(s, o.node, o.cluster, quietLogger()); !errors.Is(err, ErrDataDir) {
			t.Errorf("%s of cluster %s accepted n1's stamped raft.db: %v", o.node, o.cluster, err)
		}
	}
	s.Close()
}
