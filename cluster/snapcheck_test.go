package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haraft/haraft/fsm"
)

// snapshotNode runs a one-node cluster, learns n sessions, takes a snapshot
// (two when twice) with the log compacted behind it, and stops. It returns
// the cluster and the snapshot directories, newest first.
func snapshotNode(t *testing.T, n int, twice bool) (*testCluster, []string) {
	t.Helper()
	tc := newTestCluster(t, 1)
	tc.waitReady()
	node := tc.nodes[0]
	rc := node.Raft().ReloadableConfig()
	rc.TrailingLogs = 1 // compact the log right behind every snapshot
	if err := node.Raft().ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	rounds := 1
	if twice {
		rounds = 2
	}
	for r := 0; r < rounds; r++ {
		for i := 0; i < n; i++ {
			if _, err := node.Apply(context.Background(), fsm.LearnSessionsType, learnOne(fmt.Sprintf("r%d-s%d", r, i), "A", "t")); err != nil {
				t.Fatal(err)
			}
		}
		if err := node.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	tc.shutdownAll()
	snaps, err := layout(tc.dirs[0]).listSnapshots()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range snaps {
		dirs = append(dirs, s.dir)
	}
	if len(dirs) != rounds {
		t.Fatalf("%d snapshots, want %d", len(dirs), rounds)
	}
	return tc, dirs
}

// rewriteState replaces state.bin and fixes meta.json's size and CRC, as a
// snapshot whose content was bad before raft checksummed it.
func rewriteState(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "state.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	mb, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(data)
	m["CRC"], m["Size"] = h.Sum(nil), len(data)
	if mb, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), mb, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A damaged snapshot on disk is refused at start with a message naming
// it, and left as it was. Before snapcheck.go: a truncated or flipped
// state.bin gave "failed to load any existing snapshots" (no file named);
// an unreadable meta.json was skipped by raft and NewRaft panicked on the
// compacted log ("log not found"); a snapshot the FSM refused (valid raft
// CRC) behind a valid older one made raft fall back to the older one and
// panic the same way.
func TestDamagedSnapshotRefused(t *testing.T) {
	cases := []struct {
		name   string
		twice  bool
		damage func(t *testing.T, dirs []string)
		want   string // in the error
	}{
		{"truncated state", false, func(t *testing.T, d []string) {
			p := filepath.Join(d[0], "state.bin")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o600)
		}, "is truncated"},
		{"bit flipped state", false, func(t *testing.T, d []string) {
			p := filepath.Join(d[0], "state.bin")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x10
			os.WriteFile(p, b, 0o600)
		}, "CRC-64 mismatch"},
		{"state removed", false, func(t *testing.T, d []string) { os.Remove(filepath.Join(d[0], "state.bin")) }, "no such file"},
		{"meta.json garbage", false, func(t *testing.T, d []string) {
			os.WriteFile(filepath.Join(d[0], "meta.json"), []byte("{\"Version\":1,"), 0o600)
		}, "meta.json is unreadable"},
		{"meta.json unknown version", false, func(t *testing.T, d []string) {
			p := filepath.Join(d[0], "meta.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"Version":1`), []byte(`"Version":9`), 1), 0o600)
		}, "has version 9"},
		{"snapshot dir removed, log compacted", false, func(t *testing.T, d []string) { os.RemoveAll(d[0]) }, "no snapshot"},
		{"fsm refuses the content", false, func(t *testing.T, d []string) {
			rewriteState(t, d[0], []byte("not a haraft snapshot"))
		}, "was refused: corrupt or truncated snapshot"},
		{"fsm refuses newest, older valid", true, func(t *testing.T, d []string) {
			b, _ := os.ReadFile(filepath.Join(d[0], "state.bin"))
			rewriteState(t, d[0], b[:len(b)-5])
		}, "was refused: corrupt or truncated snapshot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, dirs := snapshotNode(t, 40, tc.twice)
			tc.damage(t, dirs)
			before := dirListing(t, cl.dirs[0])
			err := cl.startRefused(t, 0, "a damaged snapshot")
			t.Logf("refused: %v", err)
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrDataDir mentioning %q", err, tc.want)
			}
			if after := dirListing(t, cl.dirs[0]); after != before {
				t.Fatalf("the refused data dir was changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// An undamaged snapshot with a compacted log still starts, with every
// session.
func TestCompactedSnapshotStarts(t *testing.T) {
	cl, _ := snapshotNode(t, 40, true)
	cl.start(0, nil)
	cl.waitReady()
	if got := cl.nodes[0].FSM().SessionCount(); got != 80 {
		t.Fatalf("%d sessions after restart from a snapshot, want 80", got)
	}
}

// dirListing lists names and sizes under root (not raft.db, whose pages
// bolt may touch on open).
func dirListing(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(p) != "raft.db" {
			fmt.Fprintf(&b, "%s:%d ", strings.TrimPrefix(p, root), fi.Size())
		}
		return nil
	})
	return b.String()
}
