package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/eipmover/ec2emu"
	"github.com/haraft/haraft/eipmover/r53emu"
	"github.com/haraft/haraft/proto/adminpb"
)

const (
	dnsTestKey    = "AKIDDNSDAEMON"
	dnsTestSecret = "dns-daemon-test-secret"
	dnsTestName   = "lb.example.com"
	webIP, apiIP  = "198.51.100.7", "198.51.100.8"
)

// dnsCluster is daemons with an ec2 eip_mover and a route53 section,
// against the EC2 and Route 53 emulators.
type dnsCluster struct {
	t      *testing.T
	ec2    *ec2emu.Emulator
	r53    *r53emu.Emulator
	r53URL string
	zone   string
	ds     []*Daemon
}

// startDNSCluster starts one daemon per AZ in azs (node i+1 is a standby
// when standby[i]); route53 edits each node's route53 section.
func startDNSCluster(t *testing.T, azs []string, standby []bool, route53 func(r *config.Route53, zone string)) *dnsCluster {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The SDK's normal credential chain, from the environment, for both
	// the EC2 mover and the Route 53 writer.
	t.Setenv("AWS_ACCESS_KEY_ID", dnsTestKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", dnsTestSecret)
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)

	c := &dnsCluster{t: t}
	c.ec2 = ec2emu.New(ec2emu.Options{Seed: 5, Credentials: []ec2emu.Credentials{{AccessKey: dnsTestKey, Secret: dnsTestSecret}}})
	c.r53 = r53emu.New(r53emu.Options{Seed: 5, Credentials: []r53emu.Credentials{{AccessKeyID: dnsTestKey, SecretAccessKey: dnsTestSecret}}})
	var err error
	if c.zone, err = c.r53.CreateHostedZone("example.com"); err != nil {
		t.Fatal(err)
	}
	r53srv := httptest.NewServer(c.r53)
	t.Cleanup(r53srv.Close)
	c.r53URL = r53srv.URL
	var imds []string
	for i, az := range azs {
		id := "i-d" + string(rune('1'+i))
		if err := c.ec2.AddInstance(ec2emu.Instance{ID: id, AZ: az}); err != nil {
			t.Fatal(err)
		}
		s := httptest.NewServer(c.ec2.IMDSHandler(id))
		t.Cleanup(s.Close)
		imds = append(imds, s.URL)
	}
	for _, a := range []ec2emu.Address{{AllocationID: "eipalloc-0web", PublicIP: webIP}, {AllocationID: "eipalloc-0api", PublicIP: apiIP}} {
		if err := c.ec2.AddAddress(a); err != nil {
			t.Fatal(err)
		}
	}
	ec2srv := httptest.NewServer(c.ec2)
	t.Cleanup(ec2srv.Close)

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
	cfgs := make([]*config.Config, len(azs))
	for i := range azs {
		cfg := config.Default()
		cfg.File = config.DevFile
		cfg.Node = config.Node{ID: peers[i].ID, AZ: config.DefaultAZ, DataDir: t.TempDir(), Role: config.NodeActive}
		if standby[i] {
			cfg.Node.Role = config.NodeStandby
		}
		cfg.Raft.Bind, cfg.Raft.Advertise, cfg.Raft.Peers = peers[i].Addr, peers[i].Addr, peers
		// Calm timeouts: the machine may be loaded, and nothing here is
		// timed.
		for _, d := range []*config.Duration{&cfg.Raft.HeartbeatTimeout, &cfg.Raft.ElectionTimeout} {
			d.Duration = 500 * time.Millisecond
		}
		cfg.Raft.LeaderLeaseTimeout.Duration = 250 * time.Millisecond
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.Backends = []config.Backend{{Name: "app", Balance: config.BalanceRoundRobin, LearnCommit: config.LearnCommitAsync,
			Servers: []config.Server{{Name: "A", Addr: "127.0.0.1:9", Cookie: "A", Weight: 1}}}}
		cfg.EIPs = []config.EIP{{ID: "eipalloc-0web", Address: webIP, HomeAZ: "us-east-1a"}, {ID: "eipalloc-0api", Address: apiIP, HomeAZ: "us-east-1b"}}
		cfg.EIPMover = config.EIPMover{Kind: config.MoverEC2, Region: "us-east-1", Endpoint: ec2srv.URL, IMDSEndpoint: imds[i],
			FenceOnLostLeader: true, Lease: config.Duration{Duration: 2 * time.Second}, DeadAfter: config.Duration{Duration: time.Second},
			ReconcileInterval: config.Duration{Duration: time.Second}}
		cfg.Route53 = &config.Route53{HostedZoneID: c.zone, Name: dnsTestName, TTL: 60, Region: "us-east-1", Endpoint: c.r53URL,
			ReconcileInterval: config.Duration{Duration: 300 * time.Millisecond}}
		if route53 != nil {
			route53(cfg.Route53, c.zone)
		}
		cfgs[i] = cfg
	}
	// The nodes start together (see TestDaemonEC2EIPs).
	c.ds = make([]*Daemon, len(azs))
	errs := make([]error, len(azs))
	var wg sync.WaitGroup
	for i := range azs {
		wg.Go(func() {
			c.ds[i], errs[i] = Start(cfgs[i], Options{Logger: log, RaftListener: lns[i], RaftLogLevel: "off"})
		})
	}
	wg.Wait()
	for _, d := range c.ds {
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
	return c
}

func (c *dnsCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s (EC2: %+v; record: %v)", what, c.ec2.Addresses(), c.record())
		}
	}
}

// record returns the record's values as the emulator has them.
func (c *dnsCluster) record() []string {
	rs, _ := c.r53.LookupRecordSet(c.zone, dnsTestName, "A")
	v := slices.Clone(rs.Values)
	slices.Sort(v)
	return v
}

func (c *dnsCluster) holder(alloc string) string {
	for _, a := range c.ec2.Addresses() {
		if a.AllocationID == alloc {
			return a.InstanceID
		}
	}
	return ""
}

// leader returns the running daemon that leads.
func (c *dnsCluster) leader() *Daemon {
	for _, d := range c.ds {
		if d != nil && d.Node().IsLeader() {
			return d
		}
	}
	return nil
}

// status reads a daemon's /status dns section.
func (c *dnsCluster) status(d *Daemon) *DNSStatus {
	c.t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(httpGet(c.t, "http://"+d.OpsAddr()+"/status")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st.DNS
}

// watchRecord remembers every value set the record showed and whether it
// was ever emptied once it existed.
func (c *dnsCluster) watchRecord() (history func() ([]string, bool)) {
	var mu sync.Mutex
	var seen []string
	emptied, started := false, false
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			v := strings.Join(c.record(), ",")
			mu.Lock()
			if v != "" {
				started = true
				if len(seen) == 0 || seen[len(seen)-1] != v {
					seen = append(seen, v)
				}
			} else if started {
				emptied = true
			}
			mu.Unlock()
		}
	}()
	var once sync.Once
	c.t.Cleanup(func() { once.Do(func() { close(stop); <-done }) })
	return func() ([]string, bool) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen), emptied
	}
}

// awsCLIRecord reads the record with the AWS CLI, when there is one.
func (c *dnsCluster) awsCLIRecord() ([]string, bool) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "route53", "list-resource-record-sets", "--hosted-zone-id", c.zone,
		"--endpoint-url", c.r53URL, "--region", "us-east-1", "--output", "json")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") }),
		"AWS_ACCESS_KEY_ID="+dnsTestKey, "AWS_SECRET_ACCESS_KEY="+dnsTestSecret, "AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("aws route53 list-resource-record-sets: %v", err)
	}
	var resp struct {
		ResourceRecordSets []struct {
			Name, Type      string
			TTL             int64
			ResourceRecords []struct{ Value string }
		}
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		c.t.Fatalf("aws output: %v\n%s", err, out)
	}
	for _, rs := range resp.ResourceRecordSets {
		if rs.Name == dnsTestName+"." && rs.Type == "A" {
			var v []string
			for _, r := range rs.ResourceRecords {
				v = append(v, r.Value)
			}
			slices.Sort(v)
			return v, true
		}
	}
	return []string{}, true
}

// Four daemons keep lb.example.com equal to the EIPs with a live, ready
// holder: the record follows a holder's death (its address moves to the
// standby of its AZ and stays in the record), and when a member is removed
// with the admin API its address leaves the record — Route 53 has
// accepted the change — before the EIP leaves the member. The record is
// never emptied; /status, /metrics and the admin DNS call report it; the
// AWS CLI reads the same record.
func TestDaemonDNSRecordFollowsHolders(t *testing.T) {
	c := startDNSCluster(t, []string{"us-east-1a", "us-east-1a", "us-east-1b", "us-east-1b"}, []bool{false, true, false, true}, nil)
	history := c.watchRecord()
	both := []string{webIP, apiIP}
	c.waitFor("the initial placement and record", func() bool {
		return c.holder("eipalloc-0web") == "i-d1" && c.holder("eipalloc-0api") == "i-d3" && slices.Equal(c.record(), both)
	})

	// A holder dies: its address moves to the standby of its AZ, and the
	// record carries it again once that holder is ready.
	if l := c.leader(); l == c.ds[0] {
		c.waitFor("leadership moved off n1", func() bool {
			_, err := l.Admin().TransferLeadership(context.Background(), &adminpb.TransferLeadershipRequest{ToId: "n3"})
			return err == nil && c.leader() != nil && c.leader() != c.ds[0]
		})
	}
	killed := c.ds[0]
	c.ds[0] = nil
	if err := killed.Kill(); err != nil {
		t.Logf("kill n1: %v", err)
	}
	c.waitFor("eipalloc-0web on n2 and in the record", func() bool {
		return c.holder("eipalloc-0web") == "i-d2" && slices.Equal(c.record(), both)
	})

	// Remove n3 with the admin API: the moment its EIP leaves it, the
	// record must no longer carry the address.
	// The new holder's address may come back into the record as soon as
	// its placement is committed, a moment before the emulator reports
	// the association: what must hold is that the record went without
	// the address before it left n3.
	var mu sync.Mutex
	var violations []string
	var withdrawn atomic.Bool
	stopWatch := c.ec2.OnAssociationChange(func(e ec2emu.AssociationEvent) {
		if e.AllocationID == "eipalloc-0api" && e.InstanceID != "i-d3" {
			if rec := c.record(); slices.Contains(rec, apiIP) && !withdrawn.Load() {
				mu.Lock()
				violations = append(violations, "eipalloc-0api moved to "+e.InstanceID+" while the record still carried it: "+strings.Join(rec, ","))
				mu.Unlock()
			}
		}
	})
	defer stopWatch()
	// And when the configuration without n3 first shows on a node, the
	// record no longer carries n3's address.
	stopPoll, polled := make(chan struct{}), make(chan struct{})
	running := slices.Clone(c.ds)
	go func() {
		defer close(polled)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(time.Millisecond):
			}
			if !slices.Contains(c.record(), apiIP) {
				withdrawn.Store(true)
			}
			for _, d := range running {
				if d == nil {
					continue
				}
				f := d.Node().Raft().GetConfiguration()
				if f.Error() != nil || slices.ContainsFunc(f.Configuration().Servers, func(s raft.Server) bool { return s.ID == "n3" }) {
					continue
				}
				if rec := c.record(); slices.Contains(rec, apiIP) {
					mu.Lock()
					violations = append(violations, d.Node().ID()+" applied the configuration without n3 while the record still carried its address: "+strings.Join(rec, ","))
					mu.Unlock()
				}
				return
			}
		}
	}()
	c.waitFor("n3 removed through the admin API", func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		if l == c.ds[2] {
			_, _ = l.Admin().TransferLeadership(context.Background(), &adminpb.TransferLeadershipRequest{ToId: "n4"})
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := l.Admin().Remove(ctx, &adminpb.RemoveRequest{Id: "n3"}); err != nil {
			t.Logf("remove n3 (retrying): %v", err)
			return false
		}
		return true
	})
	removed := c.ds[2]
	c.ds[2] = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = removed.Shutdown(ctx)
	cancel()
	c.waitFor("eipalloc-0api on n4 and in the record", func() bool {
		return c.holder("eipalloc-0api") == "i-d4" && slices.Equal(c.record(), both)
	})
	stopWatch()
	close(stopPoll)
	<-polled
	mu.Lock()
	for _, v := range violations {
		t.Error(v)
	}
	mu.Unlock()
	seen, emptied := history()
	t.Logf("record history: %v", seen)
	if emptied {
		t.Fatal("the record was emptied")
	}
	if !slices.Contains(seen, webIP) {
		t.Errorf("n3's address never left the record: %v", seen)
	}

	l := c.leader()
	c.waitFor("the leader's /status dns in sync", func() bool {
		st := c.status(l)
		return st != nil && st.Leader && st.InSync && slices.Equal(st.Actual, both) && slices.Equal(st.Desired, both)
	})
	st := c.status(l)
	if st.Changes < 1 || st.LastChangeID == "" || st.Name != dnsTestName+"." || st.HostedZoneID != c.zone {
		t.Errorf("/status dns: %+v", st)
	}
	resp, err := l.Admin().DNS(context.Background(), &adminpb.DNSRequest{})
	if err != nil || !resp.Configured || !resp.InSync || !slices.Equal(resp.Desired, both) || !slices.Equal(resp.Actual, both) {
		t.Errorf("admin DNS: %v %v", resp, err)
	}
	for _, d := range c.ds {
		if d != nil && d != l {
			if _, err := d.Admin().DNS(context.Background(), &adminpb.DNSRequest{}); err == nil {
				t.Errorf("a follower answered DNS itself")
			}
		}
	}
	body := httpGet(t, "http://"+l.OpsAddr()+"/metrics")
	for _, want := range []string{"haraft_dns_changes_total{", "haraft_dns_conflicts_total{", `haraft_dns_errors_total{`, `kind="throttled"`, "haraft_dns_in_sync{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if v, ok := c.awsCLIRecord(); ok {
		if !slices.Equal(v, both) {
			t.Errorf("the AWS CLI reads %v, want %v", v, both)
		}
	} else {
		t.Log("no aws CLI on PATH: the record was not cross-checked with it")
	}
}

// Throttling and a refused key leave the record as it was: the errors
// are counted by kind and reported in /status, and the record converges
// once Route 53 answers again. A zone that does not exist, or a name
// outside the zone, is a zone error in /status and nothing is written.
func TestDaemonDNSErrorsChangeNothing(t *testing.T) {
	c := startDNSCluster(t, []string{"us-east-1a", "us-east-1b"}, []bool{false, false}, nil)
	both := []string{webIP, apiIP}
	c.waitFor("the record", func() bool { return slices.Equal(c.record(), both) })
	l := c.leader()
	drift := r53emu.RecordSet{Name: dnsTestName, Type: "A", TTL: 60, Values: []string{"192.0.2.66"}}
	for _, tc := range []struct {
		kind  string
		fault func()
		clear func()
	}{
		{"throttled",
			func() { c.r53.SetFault("ChangeResourceRecordSets", r53emu.Fault{Throttle: 1 << 30}) },
			func() { c.r53.SetFault("ChangeResourceRecordSets", r53emu.Fault{}) }},
		{"auth",
			func() { c.r53.RemoveCredentials(dnsTestKey) },
			func() {
				c.r53.AddCredentials(r53emu.Credentials{AccessKeyID: dnsTestKey, SecretAccessKey: dnsTestSecret})
			}},
	} {
		tc.fault()
		if err := c.r53.SetRecordSet(c.zone, drift); err != nil {
			t.Fatal(err)
		}
		c.waitFor(tc.kind+" errors in /status", func() bool {
			if l = c.leader(); l == nil {
				return false
			}
			st := c.status(l)
			return st != nil && st.Errors[tc.kind] >= 2 && st.ErrorKind == tc.kind && st.LastError != ""
		})
		if got := c.record(); !slices.Equal(got, drift.Values) {
			t.Fatalf("%s: the record changed to %v", tc.kind, got)
		}
		t.Logf("%s: /status dns.last_error: %s", tc.kind, c.status(l).LastError)
		tc.clear()
		c.waitFor("the record repaired after "+tc.kind, func() bool { return slices.Equal(c.record(), both) })
	}
	if v, ok := c.awsCLIRecord(); ok && !slices.Equal(v, both) {
		t.Errorf("the AWS CLI reads %v, want %v", v, both)
	}
}

func TestDaemonDNSBadZone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(r *config.Route53, zone string)
		field string
	}{
		{"no such zone", func(r *config.Route53, _ string) { r.HostedZoneID = "ZNOSUCHZONE" }, "hosted zone ZNOSUCHZONE does not exist"},
		{"name outside the zone", func(r *config.Route53, _ string) { r.Name = "lb.example.org" }, "record lb.example.org. is outside hosted zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startDNSCluster(t, []string{"us-east-1a", "us-east-1b"}, []bool{false, false}, tc.edit)
			keep := r53emu.RecordSet{Name: dnsTestName, Type: "A", TTL: 300, Values: []string{"192.0.2.10"}}
			if err := c.r53.SetRecordSet(c.zone, keep); err != nil {
				t.Fatal(err)
			}
			var st *DNSStatus
			c.waitFor("the zone error in the leader's /status", func() bool {
				if l := c.leader(); l != nil {
					st = c.status(l)
				}
				return st != nil && strings.Contains(st.ZoneError, tc.field) && st.Errors["zone"] >= 1 && len(st.Desired) > 0
			})
			t.Logf("/status dns.zone_error: %s", st.ZoneError)
			if n := c.r53.Calls("ChangeResourceRecordSets"); n != 0 {
				t.Errorf("%d changes tried", n)
			}
			if got := c.record(); !slices.Equal(got, keep.Values) {
				t.Errorf("the zone's record changed to %v", got)
			}
		})
	}
}
