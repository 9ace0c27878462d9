package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// A leader whose disk stalls does not step down by itself in
// hashicorp/raft (hashicorp/raft#503): its main loop blocks in the log
// store's write, while its replication goroutines keep sending heartbeats,
// so the followers never start an election and the cluster accepts no
// write until the disk comes back — possibly minutes.
//
// diskWatch times every log store write and a periodic canary write+fsync
// in the data dir. When either has been in flight for DiskStallTimeout on
// the leader, it hands leadership over: by LeadershipTransfer when the
// main loop is free (only the canary is slow: the next log write would
// block), and otherwise — or when the transfer does not happen — by
// fencing the node's Raft traffic: its Raft connections are closed and no
// new one is made or accepted, so the heartbeats stop and the followers
// elect a new leader. The fence lifts once the disk answers again; the old
// leader then sees the new term and steps down. A stalled follower only
// lags: Raft copes with that.
//
// A full disk needs no watchdog: a leader whose log write fails steps down
// in hashicorp/raft (dispatchLogs), and a follower refuses the entries.

// DefaultDiskStallTimeout is used when Config.DiskStallTimeout is 0.
const DefaultDiskStallTimeout = 5 * time.Second

type diskWatch struct {
	n         *Node
	log       *slog.Logger
	timeout   time.Duration
	minFence  time.Duration // lower bound of a fence: time for the others to elect
	transferG time.Duration // how long a requested transfer may take before fencing
	canaryDir string
	fence     *raftFence

	writes      atomic.Int64 // log store writes in flight
	writeSince  atomic.Int64 // unix ns when writes went 0 -> 1
	canarySince atomic.Int64 // unix ns of the canary write in flight, 0 when none

	mu         sync.Mutex
	detectedAt time.Time // leader-side stall first seen, zero when none
	stalls     atomic.Uint64

	// canary writes and syncs the canary file; tests replace it.
	canary func() error

	done chan struct{}
	wg   sync.WaitGroup
}

func newDiskWatch(n *Node, dataDir string, timeout, heartbeat, election time.Duration, log *slog.Logger) *diskWatch {
	if timeout == 0 {
		timeout = DefaultDiskStallTimeout
	}
	w := &diskWatch{
		n: n, log: log, timeout: timeout, canaryDir: dataDir, fence: &raftFence{conns: map[net.Conn]struct{}{}},
		minFence: max(2*election, 3*heartbeat, 100*time.Millisecond), transferG: max(2*election, 100*time.Millisecond),
		done: make(chan struct{}),
	}
	w.canary = w.writeCanary
	return w
}

func (w *diskWatch) enabled() bool { return w.timeout > 0 }

// wrap times the writes of a log store.
func (w *diskWatch) wrap(s raft.LogStore) raft.LogStore {
	if !w.enabled() {
		return s
	}
	return &watchedLogStore{LogStore: s, w: w}
}

func (w *diskWatch) begin() {
	if w.writes.Add(1) == 1 {
		w.writeSince.Store(time.Now().UnixNano())
	}
}

func (w *diskWatch) end() {
	if w.writes.Add(-1) == 0 {
		w.writeSince.Store(0)
	}
}

func age(sinceNs int64, now time.Time) time.Duration {
	if sinceNs == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, sinceNs))
}

// start runs the watchdog and the canary until stop.
func (w *diskWatch) start() {
	if !w.enabled() {
		return
	}
	if f, err := os.OpenFile(filepath.Join(w.canaryDir, "disk-canary"), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		w.log.Warn("disk canary file", "dir", w.canaryDir, "err", err)
	}
	tick := min(max(w.timeout/5, 10*time.Millisecond), 250*time.Millisecond)
	canaryEvery := min(time.Second, max(w.timeout/2, 10*time.Millisecond))
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				w.check(time.Now())
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(canaryEvery)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
			}
			w.mu.Lock()
			canary := w.canary
			w.mu.Unlock()
			w.canarySince.Store(time.Now().UnixNano())
			err := canary()
			w.canarySince.Store(0)
			if err != nil {
				select {
				case <-w.done:
					return
				default:
				}
				w.log.Warn("disk canary write failed", "dir", w.canaryDir, "err", err)
			}
		}
	}()
}

func (w *diskWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.fence.lift()
	// The canary may be stuck on the stalled disk: do not wait for it
	// forever.
	waited := make(chan struct{})
	go func() { w.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Second):
	}
}

// writeCanary overwrites a small file in place and syncs it: no new block
// is allocated, so it measures a stall, not free space.
func (w *diskWatch) writeCanary() error {
	// Created once by start: never O_CREATE here, so a canary still running
	// after stop (a slow disk) cannot recreate the file in a data dir that
	// is being removed.
	f, err := os.OpenFile(filepath.Join(w.canaryDir, "disk-canary"), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	var b [8]byte
	ns := time.Now().UnixNano()
	for i := range b {
		b[i] = byte(ns >> (8 * i))
	}
	if _, err := f.WriteAt(b[:], 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (w *diskWatch) check(now time.Time) {
	writeAge := age(w.writeSince.Load(), now)
	canaryAge := age(w.canarySince.Load(), now)
	stalled := max(writeAge, canaryAge)
	w.mu.Lock()
	defer w.mu.Unlock()
	if stalled < w.timeout {
		w.detectedAt = time.Time{}
		if w.fence.on() && now.Sub(w.fence.since()) >= w.minFence && stalled < w.timeout/2 {
			w.fence.lift()
			w.log.Warn("disk answers again: raft traffic resumed", "fenced_for", now.Sub(w.fence.since()).Round(time.Millisecond))
		}
		return
	}
	if !w.n.IsLeader() || w.fence.on() {
		return
	}
	if w.detectedAt.IsZero() {
		w.detectedAt = now
		w.stalls.Add(1)
		w.log.Error("disk stalled on the leader: handing leadership over",
			"log_write_in_flight", writeAge.Round(time.Millisecond), "canary_in_flight", canaryAge.Round(time.Millisecond), "stall_timeout", w.timeout)
		if writeAge < w.timeout {
			// The main loop is free: a transfer is the gentle way.
			go func() {
				if err := w.n.raft.LeadershipTransfer().Error(); err != nil {
					w.log.Warn("leadership transfer after a disk stall failed", "err", err)
				}
			}()
			return
		}
	} else if writeAge < w.timeout && now.Sub(w.detectedAt) < w.transferG {
		return // the transfer may still happen
	}
	w.fence.raise()
	w.log.Error("disk stalled on the leader: raft traffic fenced so the others elect a leader",
		"log_write_in_flight", writeAge.Round(time.Millisecond), "canary_in_flight", canaryAge.Round(time.Millisecond))
}

// DiskStalls counts the disk stalls this node detected as leader.
func (n *Node) DiskStalls() uint64 {
	if n.watch == nil {
		return 0
	}
	return n.watch.stalls.Load()
}

// RaftFenced reports whether the node's Raft traffic is fenced because its
// disk stalled.
func (n *Node) RaftFenced() bool { return n.watch != nil && n.watch.fence.on() }

type watchedLogStore struct {
	raft.LogStore
	w *diskWatch
}

func (s *watchedLogStore) StoreLog(l *raft.Log) error {
	s.w.begin()
	defer s.w.end()
	return s.LogStore.StoreLog(l)
}

func (s *watchedLogStore) StoreLogs(ls []*raft.Log) error {
	s.w.begin()
	defer s.w.end()
	return s.LogStore.StoreLogs(ls)
}

func (s *watchedLogStore) DeleteRange(lo, hi uint64) error {
	s.w.begin()
	defer s.w.end()
	return s.LogStore.DeleteRange(lo, hi)
}

// errFenced is returned by a fenced node's Raft dials.
var errFenced = errors.New("raft traffic fenced: the local disk stalled")

// raftFence cuts a node's Raft traffic: it closes the Raft connections
// and refuses new ones while raised.
type raftFence struct {
	mu      sync.Mutex
	raised  atomic.Bool
	sinceNs atomic.Int64
	conns   map[net.Conn]struct{}
}

func (f *raftFence) on() bool { return f.raised.Load() }

func (f *raftFence) since() time.Time { return time.Unix(0, f.sinceNs.Load()) }

func (f *raftFence) raise() {
	f.mu.Lock()
	f.sinceNs.Store(time.Now().UnixNano())
	f.raised.Store(true)
	conns := make([]net.Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (f *raftFence) lift() { f.raised.Store(false) }

// track registers c, or closes it when the fence is up.
func (f *raftFence) track(c net.Conn) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.raised.Load() {
		c.Close()
		return nil, errFenced
	}
	tc := &fencedConn{Conn: c, f: f}
	f.conns[tc] = struct{}{}
	return tc, nil
}

type fencedConn struct {
	net.Conn
	f    *raftFence
	once sync.Once
}

func (c *fencedConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

// fenceLayer is a raft.StreamLayer whose traffic a raftFence can cut.
type fenceLayer struct {
	raft.StreamLayer
	f *raftFence
}

func (l fenceLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.f.on() {
		return nil, fmt.Errorf("dial %s: %w", address, errFenced)
	}
	c, err := l.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	return l.f.track(c)
}

func (l fenceLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if tc, err := l.f.track(c); err == nil {
			return tc, nil
		}
	}
}

func orDur(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}

// isDiskError reports a log store write that failed for want of a
// working disk: hashicorp/raft answers the entries' futures with that
// error and steps down (dispatchLogs), so the proposer may retry through
// the next leader.
func isDiskError(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}
