package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// mountTmpfs mounts a tmpfs of size bytes at a new directory, or skips.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("full-disk test: needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("full-disk test: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		// Unmount after the nodes are shut down (registered before them,
		// so it runs after their cleanup).
		for i := 0; i < 50; i++ {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not unmount %s", dir)
	})
	return dir
}

// fill writes a file until the filesystem at dir has about keep bytes left.
func fill(t *testing.T, dir string, keep int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for left := free - keep; left > 0; left -= int64(len(buf)) {
		n := min(int64(len(buf)), left)
		if _, err := f.Write(buf[:n]); err != nil {
			break
		}
	}
	return p
}

// A leader whose disk fills up steps back: its log write fails, it stops
// leading, another node leads and takes the writes. Its boltdb file is not
// damaged: once space is freed it starts again (the integrity checks pass)
// and catches up with everything committed meanwhile.
func TestFullDiskLeaderStepsBackWithoutCorruption(t *testing.T) {
	mounts := []string{mountTmpfs(t, 48<<20), mountTmpfs(t, 48<<20), mountTmpfs(t, 48<<20)}
	tc, lns := reserveCluster(t, 3, func(i int) string { return filepath.Join(mounts[i], "data") })
	tc.startAll(lns)
	tc.waitReady()

	// Make n1 the leader, then leave its disk almost no room.
	const full = 0
	if l := tc.leader(); l != full {
		if err := tc.nodes[l].Raft().LeadershipTransferToServer(raft.ServerID(tc.nodes[full].ID()), raft.ServerAddress(tc.addrs[full])).Error(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "n1 to lead", func() bool { return tc.nodes[full].IsLeader() })
	}
	filler := fill(t, mounts[full], 256<<10)
	big := func(round int) *fsmpb.LearnSessions {
		m := &fsmpb.LearnSessions{}
		for i := 0; i < 512; i++ {
			m.Bindings = append(m.Bindings, &fsmpb.Binding{Backend: "app", Key: fmt.Sprintf("full-%04d-%04d-%s", round, i, strings.Repeat("x", 24)), Server: "A", LearnedBy: "t"})
		}
		return m
	}
	// Write through another node (forwarded to the leader, then to its
	// successor) until n1 has stepped back.
	via := tc.nodes[1]
	var committed int
	stepped := time.Time{}
	start := time.Now()
	for round := 0; round < 400; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := via.Apply(ctx, fsm.LearnSessionsType, big(round))
		cancel()
		if err != nil {
			t.Fatalf("round %d: a write failed although two nodes have room: %v", round, err)
		}
		committed += 512
		if !tc.nodes[full].IsLeader() && stepped.IsZero() {
			stepped = time.Now()
			t.Logf("n1 stepped back after %d committed bindings, %v into the writes", committed, stepped.Sub(start).Round(time.Millisecond))
		}
		if !stepped.IsZero() && round >= 20 && time.Since(stepped) > 500*time.Millisecond {
			break
		}
	}
	if stepped.IsZero() {
		t.Fatal("n1 kept leading with a full disk")
	}
	l := tc.leader()
	if l == full {
		t.Fatal("n1 leads again with a full disk")
	}
	t.Logf("n%d leads; %d bindings committed; n1 has applied %d", l+1, committed, tc.nodes[full].FSM().SessionCount())

	// Free the space and restart n1 on the same data dir: it must start
	// (the boltdb integrity checks pass) and catch up.
	if err := tc.nodes[full].Shutdown(context.Background()); err != nil {
		t.Logf("shutdown of the full node: %v", err)
	}
	tc.nodes[full] = nil
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := layout(tc.dirs[full]).checkBolt(); err != nil {
		t.Fatalf("the full disk damaged raft.db: %v", err)
	}
	tc.start(full, nil)
	tc.waitReady()
	waitFor(t, "n1 to catch up", func() bool { return tc.nodes[full].FSM().SessionCount() == committed })
	for _, n := range tc.nodes {
		if got := n.FSM().SessionCount(); got != committed {
			t.Fatalf("%s has %d sessions, want %d", n.ID(), got, committed)
		}
	}
	if _, err := applyVia(t, tc.nodes[full], "after-full", 5*time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}
