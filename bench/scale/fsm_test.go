package main

// In-process costs of the session table at scale:
//
//	go test -bench . -benchtime 2x ./bench/scale          # lookups 1k vs 1M, snapshot, restore
//	go test -run TestSessionMemory -v ./bench/scale        # heap per session
//
// Lookup is the proxy's per-request path (fsm.State.Lookup under the read
// lock); it must cost the same at 1k and 1M sessions.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

var (
	fsmCacheMu sync.Mutex
	fsmCache   = map[int]*fsm.FSM{}
)

// filledFSM returns an FSM holding n sessions, learned as the learner
// proposes them (batches of 512), and its keys.
func filledFSM(tb testing.TB, n int) (*fsm.FSM, []string) {
	tb.Helper()
	keys := make([]string, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", r.Uint64())
	}
	fsmCacheMu.Lock()
	defer fsmCacheMu.Unlock()
	if f, ok := fsmCache[n]; ok {
		return f, keys
	}
	f := fsm.New(nil)
	now := time.Now().UnixMilli()
	for i := 0; i < n; i += 512 {
		msg := &fsmpb.LearnSessions{}
		for j := i; j < min(i+512, n); j++ {
			msg.Bindings = append(msg.Bindings, &fsmpb.Binding{Backend: "app", Key: keys[j], Server: []string{"A", "B", "C"}[j%3],
				CreatedUnixMs: now, LastSeenUnixMs: now, LearnedBy: []string{"n1", "n2", "n3"}[j%3]})
		}
		data, err := fsm.Encode(fsm.LearnSessionsType, msg)
		if err != nil {
			tb.Fatal(err)
		}
		f.Apply(&raft.Log{Index: uint64(i/512 + 1), Type: raft.LogCommand, Data: data})
	}
	if f.SessionCount() != n {
		tb.Fatalf("%d sessions, want %d", f.SessionCount(), n)
	}
	fsmCache[n] = f
	return f, keys
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		f, keys := filledFSM(b, n)
		// The probe keys are a few thousand copies, hot in the cache as a
		// cookie just parsed is; the table's own memory is reached at random.
		probe := make([]string, 4096)
		for i := range probe {
			probe[i] = string([]byte(keys[(i*7919)%len(keys)]))
		}
		b.Run(fmt.Sprintf("sessions=%d/hit", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := f.Lookup("app", probe[i&4095]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/miss", n), func(b *testing.B) {
			for b.Loop() {
				if _, ok := f.Lookup("app", "0123456789abcdef-unknown"); ok {
					b.Fatal("hit")
				}
			}
		})
		b.Run(fmt.Sprintf("sessions=%d/parallel", n), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(probe))
				for pb.Next() {
					f.Lookup("app", probe[i&4095])
					i++
				}
			})
		})
	}
}

type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "bench" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

func snapshotOf(tb testing.TB, f *fsm.FSM) []byte {
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		tb.Fatal(err)
	}
	return sink.Bytes()
}

func BenchmarkSnapshot1M(b *testing.B) {
	f, _ := filledFSM(b, 1_000_000)
	var size int
	for b.Loop() {
		size = len(snapshotOf(b, f))
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}

func BenchmarkRestore1M(b *testing.B) {
	f, _ := filledFSM(b, 1_000_000)
	data := snapshotOf(b, f)
	for b.Loop() {
		g := fsm.New(nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		if g.SessionCount() != 1_000_000 {
			b.Fatal("short")
		}
	}
}

// TestSessionMemory reports the live heap a million sessions take, and
// what a snapshot of them allocates on top.
func TestSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a million sessions")
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	f, keys := filledFSM(t, 1_000_000)
	after := heap()
	keyBytes := uint64(0)
	for _, k := range keys {
		keyBytes += uint64(len(k))
	}
	t.Logf("1M sessions: live heap %.1f MB (%.0f B/session; the test's own key slice is %.1f MB of it)",
		float64(after-before)/(1<<20), float64(after-before)/1e6, float64(keyBytes+uint64(len(keys))*16)/(1<<20))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start, cpu0 := time.Now(), cpuTime()
	data := snapshotOf(t, f)
	took, cpu := time.Since(start), cpuTime()-cpu0
	runtime.ReadMemStats(&m1)
	t.Logf("snapshot: %v wall, %v CPU (GC included), %.1f MB, allocated %.1f MB while taking it (the %.1f MB buffer included)",
		took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(len(data))/(1<<20), float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), float64(cap(data))/(1<<20))
	runtime.ReadMemStats(&m0)
	start, cpu0 = time.Now(), cpuTime()
	g := fsm.New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	took, cpu = time.Since(start), cpuTime()-cpu0
	runtime.ReadMemStats(&m1)
	t.Logf("restore: %v wall, %v CPU, allocated %.1f MB", took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20))
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// varies far less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
