// Command scale loads a million learned sessions into a real three-node
// haraft cluster — three haraftd processes on loopback, each with its own
// data dir — and reports, per node, what that costs: RSS, boltdb size,
// snapshot time and size, restore time, and the time a fresh fourth node
// takes to join (Raft AddVoter through the admin API) and catch up. While
// it loads it prints the data dirs' sizes, so the effect of log compaction
// (snapshot_threshold, trailing_logs) on disk use under sustained learning
// is visible.
//
//	go run ./bench/scale                      # 1M sessions, defaults
//	go run ./bench/scale -sessions 200000 -snapshot-threshold 1024 -trailing-logs 2048
//
// Sessions enter as the proxies' learners send them: LearnSessions
// commands of -batch bindings, proposed to the leader over the cluster
// port's internal gRPC service (the path a follower's learner uses), from
// -senders concurrent proposers. The lookup cost at 1k vs 1M sessions is
// `go test -bench Lookup ./bench/scale`.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/adminpb"
	"github.com/haraft/haraft/proto/clusterpb"
	"github.com/haraft/haraft/proto/fsmpb"
)

var (
	sessions    = flag.Int("sessions", 1_000_000, "sessions to learn")
	batch       = flag.Int("batch", 512, "bindings per LearnSessions command (the learner's batch_size)")
	senders     = flag.Int("senders", 8, "concurrent proposers")
	dir         = flag.String("dir", "", "work dir (default: a new temp dir, removed at the end)")
	keep        = flag.Bool("keep", false, "keep the work dir")
	haraftdBin  = flag.String("haraftd", "", "haraftd binary (default: go build ./cmd/haraftd)")
	snapThresh  = flag.Uint64("snapshot-threshold", 1024, "raft.snapshot_threshold")
	trailing    = flag.Uint64("trailing-logs", 1024, "raft.trailing_logs")
	snapIntv    = flag.Duration("snapshot-interval", 10*time.Second, "raft.snapshot_interval")
	gomemlimit  = flag.String("gomemlimit", "", "GOMEMLIMIT for the haraftd processes (empty: unset)")
	join        = flag.Bool("join", true, "measure a fourth node joining")
	restartNode = flag.Bool("restart", true, "measure a follower's restart (restore) time")
	sustain     = flag.Int("sustain-entries", 0, "after the load, propose this many more log entries re-learning known sessions, to show log compaction bounding disk use")
	sustainB    = flag.Int("sustain-batch", 512, "bindings per entry in the sustain phase")
)

// known keeps some learned keys for the sustain phase to re-learn.
var (
	knownMu sync.Mutex
	known   []string
)

const token = "scale-bench-write-token"

type node struct {
	id, dir, cfg                  string
	raftAddr, httpAddr, adminAddr string
	cmd                           *exec.Cmd
	logf                          *os.File
}

func main() {
	log.SetFlags(0)
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal("scale: ", err)
	}
}

func run() error {
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "haraft-scale-"); err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(work)
		}
	}
	bin := *haraftdBin
	if bin == "" {
		bin = filepath.Join(work, "haraftd")
		fmt.Printf("building haraftd into %s\n", bin)
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/haraftd")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build (run from the repository root): %w", err)
		}
	}
	nodes := make([]*node, 4)
	for i := range nodes {
		nodes[i] = &node{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(work, fmt.Sprintf("n%d", i+1)),
			raftAddr: freeAddr(), httpAddr: freeAddr(), adminAddr: freeAddr()}
	}
	for i, n := range nodes {
		if err := writeConfig(n, nodes, i < 3); err != nil {
			return err
		}
	}
	defer func() {
		for _, n := range nodes {
			n.stop(syscall.SIGTERM)
		}
	}()
	for _, n := range nodes[:3] {
		if err := n.start(bin); err != nil {
			return err
		}
	}
	for _, n := range nodes[:3] {
		if err := n.waitReady(60 * time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("3 nodes ready; snapshot_threshold=%d trailing_logs=%d snapshot_interval=%v batch=%d senders=%d gomemlimit=%q\n",
		*snapThresh, *trailing, *snapIntv, *batch, *senders, *gomemlimit)
	fmt.Printf("baseline: %s\n", rssLine(nodes[:3]))

	// Load.
	loadStart := time.Now()
	if err := load(nodes[:3], *sessions); err != nil {
		return err
	}
	loadTook := time.Since(loadStart)
	if err := waitSessions(nodes[:3], *sessions, 2*time.Minute); err != nil {
		return err
	}
	fmt.Printf("loaded %d sessions in %v (%.0f sessions/s); every node applied them %v after the start\n",
		*sessions, loadTook.Round(time.Millisecond), float64(*sessions)/loadTook.Seconds(), time.Since(loadStart).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // let the runtime settle
	fmt.Printf("after load: %s\n", rssLine(nodes[:3]))
	fmt.Printf("data dirs:  %s\n", diskLine(nodes[:3]))

	if *sustain > 0 {
		if err := sustainLoad(nodes[:3]); err != nil {
			return err
		}
	}

	leader, err := leaderOf(nodes[:3])
	if err != nil {
		return err
	}
	// Snapshot: the admin API's SnapshotSave takes a Raft snapshot on the
	// leader, then streams it: the first chunk arrives when it is taken.
	snapTook, firstChunk, snapBytes, err := snapshotSave(leader)
	if err != nil {
		return err
	}
	state, stateSize := newestSnapshot(leader)
	fmt.Printf("snapshot on %s: taken in %v (first chunk), streamed %d bytes in %v; state.bin %s\n",
		leader.id, firstChunk.Round(time.Millisecond), snapBytes, snapTook.Round(time.Millisecond), mb(stateSize))
	fmt.Printf("after snapshot: %s\n", rssLine(nodes[:3]))

	// FSM restore of that snapshot, in this process.
	restoreTook, err := restoreFile(state)
	if err != nil {
		return err
	}
	fmt.Printf("FSM restore of %s: %v\n", mb(stateSize), restoreTook.Round(time.Millisecond))

	var restartTook time.Duration
	if *restartNode {
		f := followerOf(nodes[:3], leader)
		f.stop(syscall.SIGKILL)
		start := time.Now()
		if err := f.start(bin); err != nil {
			return err
		}
		if err := f.waitReady(2 * time.Minute); err != nil {
			return err
		}
		restartTook = time.Since(start)
		fmt.Printf("restart of %s after kill -9: ready (snapshot restored, log replayed, caught up) in %v\n", f.id, restartTook.Round(time.Millisecond))
	}

	var joinTook time.Duration
	if *join {
		n4 := nodes[3]
		if err := n4.start(bin); err != nil {
			return err
		}
		start := time.Now()
		if leader, err = leaderOf(nodes[:3]); err != nil {
			return err
		}
		if err := adminJoin(leader, n4); err != nil {
			return err
		}
		if err := n4.waitReady(5 * time.Minute); err != nil {
			return err
		}
		if err := waitSessions([]*node{n4}, *sessions, 2*time.Minute); err != nil {
			return err
		}
		joinTook = time.Since(start)
		fmt.Printf("join of a fresh n4 (AddVoter): caught up with %d sessions and ready in %v\n", *sessions, joinTook.Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second)
	all := nodes[:3]
	if *join {
		all = nodes
	}
	fmt.Printf("final: %s\n", rssLine(all))
	fmt.Printf("final data dirs: %s\n", diskLine(all))

	fmt.Printf("\n| metric | value |\n| --- | --- |\n")
	fmt.Printf("| sessions | %d |\n", *sessions)
	fmt.Printf("| load (3 nodes, batch %d, %d proposers) | %v, %.0f sessions/s |\n", *batch, *senders, loadTook.Round(time.Millisecond), float64(*sessions)/loadTook.Seconds())
	for _, n := range all {
		rss, hwm := n.rss()
		anon, file := n.rssParts()
		fmt.Printf("| %s RSS now / peak | %s / %s (anon %s, file %s) |\n", n.id, mb(rss), mb(hwm), mb(anon), mb(file))
	}
	for _, n := range all {
		db, snaps := n.disk()
		fmt.Printf("| %s raft.db / snapshots | %s / %s |\n", n.id, mb(db), mb(snaps))
	}
	fmt.Printf("| snapshot (taken on the leader) | %v, %s |\n", firstChunk.Round(time.Millisecond), mb(stateSize))
	fmt.Printf("| FSM restore | %v |\n", restoreTook.Round(time.Millisecond))
	fmt.Printf("| snapshot + restore | %v |\n", (firstChunk + restoreTook).Round(time.Millisecond))
	if *restartNode {
		fmt.Printf("| follower restart after kill -9 to ready | %v |\n", restartTook.Round(time.Millisecond))
	}
	if *join {
		fmt.Printf("| new node join to caught up and ready | %v |\n", joinTook.Round(time.Millisecond))
	}
	return nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeConfig(n *node, all []*node, bootstrap bool) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	var peers strings.Builder
	for _, p := range all[:3] {
		fmt.Fprintf(&peers, "    - {id: %s, addr: %s}\n", p.id, p.raftAddr)
	}
	if !bootstrap {
		fmt.Fprintf(&peers, "    - {id: %s, addr: %s}\n", n.id, n.raftAddr)
	}
	cfg := fmt.Sprintf(`node: {id: %s, az: scale-%s, data_dir: %s}
raft:
  bind: %s
  bootstrap: %v
  peers:
%s  snapshot_threshold: %d
  trailing_logs: %d
  snapshot_interval: %s
http: {addr: %s}
admin:
  addr: %s
  tokens: [{name: bench, role: write, secret: %s}]
frontends: [{name: web, bind: %s, backend: app}]
backends:
  - name: app
    cookie: {name: JSESSIONID, mode: learn}
    servers: [{name: A, addr: 127.0.0.1:1}, {name: B, addr: 127.0.0.1:2}]
`, n.id, n.id, filepath.Join(n.dir, "data"), n.raftAddr, bootstrap, peers.String(), *snapThresh, *trailing, *snapIntv,
		n.httpAddr, n.adminAddr, token, freeAddr())
	n.cfg = filepath.Join(n.dir, "haraftd.yaml")
	return os.WriteFile(n.cfg, []byte(cfg), 0o600)
}

func (n *node) start(bin string) error {
	f, err := os.OpenFile(filepath.Join(n.dir, "haraftd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	n.logf = f
	n.cmd = exec.Command(bin, "-config", n.cfg)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.Env = os.Environ()
	if *gomemlimit != "" {
		n.cmd.Env = append(n.cmd.Env, "GOMEMLIMIT="+*gomemlimit)
	}
	return n.cmd.Start()
}

func (n *node) stop(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
	if n.logf != nil {
		n.logf.Close()
	}
}

type nodeStatus struct {
	Node, State, Leader string
	Sessions            int
	Ready               bool
	AppliedIndex        uint64 `json:"applied_index"`
}

var httpc = &http.Client{Timeout: 5 * time.Second}

func (n *node) status() (nodeStatus, error) {
	var st nodeStatus
	resp, err := httpc.Get("http://" + n.httpAddr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (n *node) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := httpc.Get("http://" + n.httpAddr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v (log: %s)", n.id, timeout, filepath.Join(n.dir, "haraftd.log"))
}

func waitSessions(ns []*node, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range ns {
		for {
			st, err := n.status()
			if err == nil && st.Sessions >= want {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s has %d sessions, want %d (%v)", n.id, st.Sessions, want, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func leaderOf(ns []*node) (*node, error) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, n := range ns {
			if st, err := n.status(); err == nil && st.State == "Leader" {
				return n, nil
			}
		}
	}
	return nil, errors.New("no leader")
}

func followerOf(ns []*node, leader *node) *node {
	for _, n := range ns {
		if n != leader {
			return n
		}
	}
	return nil
}

// internalClient dials a node's cluster port for the internal gRPC service
// (the mux selector byte 'G', no TLS), as a follower's learner does.
func internalClient(addr string) (clusterpb.InternalClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, target string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", target)
			if err != nil {
				return nil, err
			}
			if _, err := c.Write([]byte{'G'}); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}))
	if err != nil {
		return nil, nil, err
	}
	return clusterpb.NewInternalClient(conn), conn, nil
}

func load(ns []*node, total int) error {
	leader, err := leaderOf(ns)
	if err != nil {
		return err
	}
	var (
		leaderMu sync.Mutex
		clients  = map[string]clusterpb.InternalClient{}
	)
	clientFor := func() (clusterpb.InternalClient, error) {
		leaderMu.Lock()
		defer leaderMu.Unlock()
		if c, ok := clients[leader.raftAddr]; ok {
			return c, nil
		}
		c, _, err := internalClient(leader.raftAddr)
		if err != nil {
			return nil, err
		}
		clients[leader.raftAddr] = c
		return c, nil
	}
	var (
		next    atomic.Int64
		done    atomic.Int64
		firstEr atomic.Value
		wg      sync.WaitGroup
	)
	batches := (total + *batch - 1) / *batch
	report := max(batches/10, 1)
	start := time.Now()
	for range *senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				n := min(*batch, total-b**batch)
				msg := &fsmpb.LearnSessions{Bindings: make([]*fsmpb.Binding, n)}
				now := time.Now().UnixMilli()
				for i := range msg.Bindings {
					key := sessionKey()
					if b%8 == 0 && i == 0 {
						knownMu.Lock()
						if len(known) < 100000 {
							known = append(known, key)
						}
						knownMu.Unlock()
					}
					msg.Bindings[i] = &fsmpb.Binding{Backend: "app", Key: key, Server: []string{"A", "B"}[(b+i)%2],
						CreatedUnixMs: now, LastSeenUnixMs: now, LearnedBy: ns[(b+i)%3].id}
				}
				data, err := fsm.Encode(fsm.LearnSessionsType, msg)
				if err != nil {
					firstEr.CompareAndSwap(nil, err)
					return
				}
				for attempt := 0; ; attempt++ {
					c, err := clientFor()
					if err == nil {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						_, err = c.Apply(ctx, &clusterpb.ApplyRequest{Command: data, FromNode: "scale-bench"})
						cancel()
					}
					if err == nil {
						break
					}
					if attempt > 50 {
						firstEr.CompareAndSwap(nil, err)
						return
					}
					if s, ok := status.FromError(err); ok && (s.Code() == codes.FailedPrecondition || s.Code() == codes.Unavailable) {
						if l, lerr := leaderOf(ns); lerr == nil {
							leaderMu.Lock()
							leader = l
							leaderMu.Unlock()
						}
					}
					time.Sleep(50 * time.Millisecond)
				}
				if d := done.Add(1); d%int64(report) == 0 {
					el := time.Since(start)
					fmt.Printf("  %3d%%  %8d sessions  %6.1fs  %7.0f/s   %s   %s\n", d*100/int64(batches), min(int(d)**batch, total), el.Seconds(),
						float64(min(int(d)**batch, total))/el.Seconds(), rssLine(ns), diskLine(ns))
				}
			}
		}()
	}
	wg.Wait()
	if e := firstEr.Load(); e != nil {
		return e.(error)
	}
	return nil
}

func sessionKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) // as demobackend's JSESSIONID
}

// rss returns the process's resident set now and its peak (VmRSS, VmHWM).
func (n *node) rss() (int64, int64) { return n.procStatus("VmRSS:", "VmHWM:") }

// rssParts splits the resident set: anonymous memory (the Go heap) and
// file pages (boltdb's mmap of raft.db).
func (n *node) rssParts() (anon, file int64) { return n.procStatus("RssAnon:", "RssFile:") }

// procStatus returns two fields of the process's /proc/<pid>/status (sizes
// there in kB) in bytes; 0 for a field not found or a process not running.
func (n *node) procStatus(a, b string) (va, vb int64) {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0, 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case a:
			va = v << 10
		case b:
			vb = v << 10
		}
	}
	return va, vb
}

func (n *node) disk() (db, snaps int64) {
	if fi, err := os.Stat(filepath.Join(n.dir, "data", "raft", "raft.db")); err == nil {
		db = fi.Size()
	}
	_ = filepath.Walk(filepath.Join(n.dir, "data", "raft", "snapshots"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			snaps += fi.Size()
		}
		return nil
	})
	return db, snaps
}

func newestSnapshot(n *node) (string, int64) {
	dirs, _ := filepath.Glob(filepath.Join(n.dir, "data", "raft", "snapshots", "*", "state.bin"))
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := os.Stat(dirs[i])
		b, _ := os.Stat(dirs[j])
		return a.ModTime().Before(b.ModTime())
	})
	if len(dirs) == 0 {
		return "", 0
	}
	fi, _ := os.Stat(dirs[len(dirs)-1])
	return dirs[len(dirs)-1], fi.Size()
}

func rssLine(ns []*node) string {
	return nodesLine(ns, func(n *node) string {
		rss, hwm := n.rss()
		return fmt.Sprintf("%s rss %s (peak %s)", n.id, mb(rss), mb(hwm))
	})
}

func diskLine(ns []*node) string {
	return nodesLine(ns, func(n *node) string {
		db, snaps := n.disk()
		return fmt.Sprintf("%s db %s snap %s", n.id, mb(db), mb(snaps))
	})
}

// nodesLine joins what part says of each node into one line.
func nodesLine(ns []*node, part func(*node) string) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = part(n)
	}
	return strings.Join(parts, ", ")
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func adminConn(n *node) (adminpb.AdminClient, context.Context, func(), error) {
	conn, err := grpc.NewClient("passthrough:///"+n.adminAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, nil, err
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	return adminpb.NewAdminClient(conn), ctx, func() { conn.Close() }, nil
}

func snapshotSave(n *node) (total, first time.Duration, size int64, err error) {
	c, ctx, closeFn, err := adminConn(n)
	if err != nil {
		return 0, 0, 0, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	stream, err := c.SnapshotSave(ctx, &adminpb.SnapshotSaveRequest{})
	if err != nil {
		return 0, 0, 0, err
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("snapshot save: %w", err)
		}
		if first == 0 {
			first = time.Since(start)
		}
		size += int64(len(chunk.Data))
	}
	return time.Since(start), first, size, nil
}

func restoreFile(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	st, err := fsm.ReadSnapshot(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	if st.SessionCount() < *sessions {
		return 0, fmt.Errorf("restored %d sessions, want %d", st.SessionCount(), *sessions)
	}
	return took, nil
}

func adminJoin(leader, n4 *node) error {
	c, ctx, closeFn, err := adminConn(leader)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.Join(ctx, &adminpb.JoinRequest{Id: n4.id, Address: n4.raftAddr})
	return err
}

// sustainLoad keeps learning — re-learning known sessions, so the table
// does not grow but the log does — and prints the data dirs as it goes:
// with log compaction the raft.db files stop growing.
func sustainLoad(ns []*node) error {
	leader, err := leaderOf(ns)
	if err != nil {
		return err
	}
	c, conn, err := internalClient(leader.raftAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	knownMu.Lock()
	keys := known
	knownMu.Unlock()
	if len(keys) == 0 {
		return errors.New("sustain: no known keys")
	}
	fmt.Printf("sustain: %d more entries of %d re-learned bindings (snapshot_threshold=%d trailing_logs=%d)\n", *sustain, *sustainB, *snapThresh, *trailing)
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	var firstErr atomic.Value
	step := max(*sustain/10, 1)
	for range *senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e := int(next.Add(1))
				if e > *sustain {
					return
				}
				msg := &fsmpb.LearnSessions{}
				now := time.Now().UnixMilli()
				for i := 0; i < *sustainB; i++ {
					msg.Bindings = append(msg.Bindings, &fsmpb.Binding{Backend: "app", Key: keys[(e**sustainB+i)%len(keys)], Server: "A", CreatedUnixMs: now, LearnedBy: "n1"})
				}
				data, _ := fsm.Encode(fsm.LearnSessionsType, msg)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Apply(ctx, &clusterpb.ApplyRequest{Command: data, FromNode: "scale-bench"})
				cancel()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if e%step == 0 {
					fmt.Printf("  %6d entries %6.1fs   %s   %s\n", e, time.Since(start).Seconds(), diskLine(ns), rssLine(ns))
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("sustain: %v", e)
	}
	return nil
}
