package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover/ec2emu"
)

// Three daemons with an ec2 eip_mover against the emulator: each learns
// its instance id and AZ from its own IMDSv2 endpoint, the leader places
// both EIPs in their home AZs, and when the holder of one shuts down it
// moves to the standby of the same AZ.
func TestDaemonEC2EIPs(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The SDK's normal credential chain, from the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDAEMONTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "daemon-test-secret")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)

	emu := ec2emu.New(ec2emu.Options{Seed: 3, Credentials: []ec2emu.Credentials{{AccessKey: "AKIDDAEMONTEST", Secret: "daemon-test-secret"}}})
	azs := []string{"us-east-1a", "us-east-1a", "us-east-1b"}
	var imds []string
	for i, az := range azs {
		id := "i-d" + string(rune('1'+i))
		if err := emu.AddInstance(ec2emu.Instance{ID: id, AZ: az}); err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(emu.IMDSHandler(id))
		t.Cleanup(s.Close)
		imds = append(imds, s.URL)
	}
	for _, a := range []ec2emu.Address{{AllocationID: "eipalloc-0web", PublicIP: "198.51.100.7"}, {AllocationID: "eipalloc-0api", PublicIP: "198.51.100.8"}} {
		if err := emu.AddAddress(a); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)

	var lns []net.Listener
	var peers []config.Peer
	for i := range azs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, config.Peer{ID: "n" + string(rune('1'+i)), Addr: ln.Addr().String(), AZ: azs[i]})
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The nodes start together, as a cluster's nodes do: a new leader
	// places the addresses once every member reported or its report grace
	// (3 s) ran out, and the expected placement needs all three reports
	// (started one after another under -race on a busy machine, the third
	// came after the grace and the first placement, which stays, went to
	// the two that had reported).
	ds := make([]*Daemon, len(azs))
	cfgs := make([]*config.Config, len(azs))
	for i := range azs {
		cfg := config.Default()
		cfg.File = config.DevFile
		cfg.Node = config.Node{ID: peers[i].ID, AZ: config.DefaultAZ, DataDir: t.TempDir(), Role: config.NodeActive} // AZ from IMDS
		if i == 1 {
			cfg.Node.Role = config.NodeStandby
		}
		cfg.Raft.Bind, cfg.Raft.Advertise, cfg.Raft.Peers = peers[i].Addr, peers[i].Addr, peers
		for _, d := range []*config.Duration{&cfg.Raft.HeartbeatTimeout, &cfg.Raft.ElectionTimeout, &cfg.Raft.LeaderLeaseTimeout} {
			d.Duration = 100 * time.Millisecond
		}
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.Backends = []config.Backend{{Name: "app", Balance: config.BalanceRoundRobin, LearnCommit: config.LearnCommitAsync,
			Servers: []config.Server{{Name: "A", Addr: "127.0.0.1:9", Cookie: "A", Weight: 1}}}}
		cfg.EIPs = []config.EIP{{ID: "eipalloc-0web", Address: "198.51.100.7", HomeAZ: "us-east-1a"}, {ID: "eipalloc-0api", Address: "198.51.100.8", HomeAZ: "us-east-1b"}}
		cfg.EIPMover = config.EIPMover{Kind: config.MoverEC2, Region: "us-east-1", Endpoint: srv.URL, IMDSEndpoint: imds[i],
			FenceOnLostLeader: true, Lease: config.Duration{Duration: 2 * time.Second}, DeadAfter: config.Duration{Duration: 500 * time.Millisecond},
			ReconcileInterval: config.Duration{Duration: time.Second}}
		cfgs[i] = cfg
	}
	errs := make([]error, len(azs))
	var wg sync.WaitGroup
	for i := range azs {
		wg.Go(func() {
			ds[i], errs[i] = Start(cfgs[i], Options{Logger: log, RaftListener: lns[i], RaftLogLevel: "off"})
		})
	}
	wg.Wait()
	for _, d := range ds {
		if d == nil {
			continue
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = d.Shutdown(ctx)
		})
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	holder := func(alloc string) string {
		for _, a := range emu.Addresses() {
			if a.AllocationID == alloc {
				return a.InstanceID
			}
		}
		return ""
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (emulator: %+v)", what, emu.Addresses())
			}
		}
	}
	waitFor("the initial placement", func() bool { return holder("eipalloc-0web") == "i-d1" && holder("eipalloc-0api") == "i-d3" })
	// The nodes' /metrics count the controllers' decisions and cloud moves
	// (two EIPs placed: at least two of each, summed over the nodes, since
	// the leader may have changed).
	for _, outcome := range []string{"decision", "move"} {
		total := 0
		for _, d := range ds {
			want := `haraft_eip_controller_total{node_id="` + d.Node().ID() + `",outcome="` + outcome + `"} `
			body := httpGet(t, "http://"+d.OpsAddr()+"/metrics")
			i := strings.Index(body, want)
			if i < 0 {
				t.Fatalf("/metrics lacks %s\n%s", want, body)
			}
			v, _ := strconv.Atoi(strings.Fields(body[i+len(want):])[0])
			total += v
		}
		if total < 2 {
			t.Errorf("haraft_eip_controller_total{outcome=%q} sums to %d over the nodes, want >= 2", outcome, total)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stopped := time.Now()
	if err := ds[0].Shutdown(ctx); err != nil {
		t.Logf("shutdown n1: %v", err)
	}
	waitFor("eipalloc-0web on the standby of its AZ", func() bool { return holder("eipalloc-0web") == "i-d2" })
	t.Logf("n1 shut down -> eipalloc-0web on i-d2 after %v", time.Since(stopped).Round(time.Millisecond))
	if holder("eipalloc-0api") != "i-d3" {
		t.Fatalf("the other EIP moved: %s", holder("eipalloc-0api"))
	}
	if err := ec2emu.VerifyHistory(emu.Associations()); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds[1:] {
		if ctrl, agent := d.EIP(); ctrl == nil || agent == nil {
			t.Fatal("no EIP controller or agent")
		}
	}
}
