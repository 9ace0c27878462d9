// Command learn measures how many learned session bindings per second a
// 3-node haraft cluster commits: three in-process nodes (real Raft over
// loopback TCP, real boltdb with fsync), bindings fed to one node's learner
// as the proxy feeds them, batched into LearnSessions log entries. It prints
// one line per batch size.
//
//	go run ./bench/learn -n 200000 -batch 1,64,512
//	go run ./bench/learn -tls both    the cluster port with and without mutual TLS, in turn
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/proxy"
)

func main() {
	n := flag.Int("n", 200000, "bindings per run")
	batches := flag.String("batch", "1,64,512,4096", "batch sizes to compare (proposals.batch_size)")
	via := flag.String("via", "follower", "feed the learner of the leader or of a follower")
	tlsMode := flag.String("tls", "on", "the cluster port: on (mutual TLS, the dev CA) | off (plain TCP on loopback) | both (off then on, for each batch size)")
	flag.Parse()
	var modes []bool
	switch *tlsMode {
	case "on":
		modes = []bool{true}
	case "off":
		modes = []bool{false}
	case "both":
		modes = []bool{false, true}
	default:
		fmt.Fprintf(os.Stderr, "-tls: %q is not on, off or both\n", *tlsMode)
		os.Exit(2)
	}
	fmt.Printf("learned-binding commit throughput: 3 nodes in one process, raft-boltdb with fsync, %d CPUs, %s\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-8s %-10s %-5s %12s %10s %10s\n", "batch", "via", "mtls", "bindings/s", "entries", "seconds")
	for _, s := range strings.Split(*batches, ",") {
		bs, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, tls := range modes {
			if err := run(*n, bs, *via, tls); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}

func run(n, batch int, via string, tls bool) error {
	dir, err := os.MkdirTemp("", "haraft-bench-learn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := daemon.StartDev(ctx, daemon.DevOptions{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftLogLevel: "off", Plain: !tls})
	if err != nil {
		return err
	}
	defer c.Shutdown(context.Background())
	idx := 0
	for i, d := range c.Nodes {
		if d.Node().IsLeader() == (via == "leader") {
			idx = i
			break
		}
	}
	// A learner of its own, with this run's batch size, proposing through
	// the chosen node exactly as that node's proxy would.
	l := proxy.NewLearner(c.Nodes[idx].Node(), proxy.LearnerOptions{NodeID: "bench", BatchSize: batch, FlushInterval: 2 * time.Millisecond, QueueSize: n + batch})
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	done := make(chan struct{})
	go func() { l.Run(lctx); close(done) }()
	start := time.Now()
	servers := []string{"A", "B"}
	for i := 0; i < n; i++ {
		if _, err := l.Learn(context.Background(), "app", "bench-"+strconv.Itoa(i), servers[i%2], false); err != nil {
			return fmt.Errorf("learn %d: %w", i, err)
		}
	}
	for {
		st := l.Stats()
		if st.Committed+st.Failed >= uint64(n) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	lcancel()
	<-done
	st := l.Stats()
	if st.Failed > 0 {
		return fmt.Errorf("%d bindings failed to commit", st.Failed)
	}
	// Every node must hold every binding.
	for _, d := range c.Nodes {
		for d.FSM().SessionCount() < n {
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Printf("%-8d %-10s %-5v %12.0f %10d %10.2f\n", batch, via, tls, float64(n)/elapsed.Seconds(), st.Batches, elapsed.Seconds())
	return nil
}
