package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// public returns c without the unexported bookkeeping, for comparisons.
func public(c *Config) Config {
	p := *c
	p.lines, p.advertiseFromBind = nil, false
	return p
}

func ms(n int) Duration { return Duration{time.Duration(n) * time.Millisecond} }

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		File:     "testdata/full.yaml",
		Node:     Node{ID: "n2", AZ: "eu-west-1b", DataDir: "/var/lib/haraft", Role: NodeActive},
		EIPMover: EIPMover{Kind: MoverNone, FenceOnLostLeader: true, Lease: ms(2000), DeadAfter: ms(3000), ReconcileInterval: ms(5000)},
		Raft: Raft{
			Bind: "0.0.0.0:7000", Advertise: "10.0.1.2:7000", Bootstrap: false,
			Peers: []Peer{
				{ID: "n1", Addr: "10.0.1.1:7000"},
				{ID: "n2", Addr: "10.0.1.2:7000"},
				{ID: "n3", Addr: "[fd00::3]:7000"},
			},
			HeartbeatTimeout: ms(2000), ElectionTimeout: ms(3000), LeaderLeaseTimeout: ms(1500),
			CommitTimeout: ms(20), SnapshotInterval: ms(300000), SnapshotThreshold: 100, TrailingLogs: 0,
			TLS: &TLS{CAFile: "/etc/haraft/ca.pem", CertFile: "/etc/haraft/n2.pem", KeyFile: "/etc/haraft/n2-key.pem"},
		},
		HTTP: HTTP{Addr: ":9100"},
		Admin: Admin{
			Addr: "10.0.1.2:9200",
			TLS:  &TLS{CAFile: "/etc/haraft/admin-ca.pem", CertFile: "/etc/haraft/n2-admin.pem", KeyFile: "/etc/haraft/n2-admin-key.pem"},
			Tokens: []Token{
				{Name: "ops", Role: RoleWrite, Secret: "0123456789abcdef0123"},
				{Name: "dashboard", Role: RoleRead, SecretFile: "/etc/haraft/dashboard.token"},
			},
		},
		Timeouts:  Timeouts{Connect: ms(1000), Client: ms(60000), Server: ms(90000), HTTPRequest: ms(5000), HTTPKeepAlive: ms(2000), Queue: ms(1000), Shutdown: ms(15000)},
		Proposals: Proposals{BatchSize: 64, FlushInterval: ms(1), QueueSize: 64},
		Frontends: []Frontend{
			{Name: "web", Bind: ":80", Backend: "app"},
			{Name: "api", Bind: "10.0.1.2:8080", Backend: "api"},
		},
		Backends: []Backend{
			{
				Name: "app", Balance: "leastconn", LearnCommit: "sync",
				Cookie: &Cookie{Name: "SERVERID", Mode: "insert", Indirect: true, NoCache: true, HTTPOnly: true, Secure: true, DynamicKey: "s3cr3t"},
				Servers: []Server{
					{Name: "web-1", Addr: "10.0.2.1:8080", Cookie: "web-1", Weight: 10},
					{Name: "web-2", Addr: "app2.internal:8080", Cookie: "web-2", Weight: 0},
				},
				Options: DefaultBackendOptions,
			},
			{
				Name: "api", Balance: "source", LearnCommit: "async",
				Servers: []Server{{Name: "api.1", Addr: "10.0.3.1:80", Cookie: "a1", Weight: 1}},
				Options: DefaultBackendOptions,
			},
		},
	}
	if got := public(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := *Default()
	want.File = "testdata/minimal.yaml"
	want.Node.ID, want.Node.DataDir = "solo", "/tmp/solo"
	want.EIPMover.DeadAfter = want.Raft.ElectionTimeout
	want.Raft.Bind, want.Raft.Advertise = "127.0.0.1:7000", "127.0.0.1:7000"
	want.Raft.Peers = []Peer{{ID: "solo", Addr: "127.0.0.1:7000"}}
	want.HTTP.Addr = "127.0.0.1:9100"
	want.Timeouts.Queue = want.Timeouts.Connect
	want.Frontends = []Frontend{{Name: "web", Bind: "127.0.0.1:8000", Backend: "app"}}
	want.Backends = []Backend{{
		Name: "app", Balance: "roundrobin", LearnCommit: "async",
		Servers: []Server{{Name: "A", Addr: "127.0.0.1:9001", Cookie: "A", Weight: 1}},
		Options: []string{"forwardfor", "redispatch"},
	}}
	if got := public(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	// The documented defaults, spelled out once.
	r, to, p := c.Raft, c.Timeouts, c.Proposals
	for name, pair := range map[string][2]any{
		"az":                   {c.Node.AZ, "default"},
		"bootstrap":            {r.Bootstrap, true},
		"heartbeat_timeout":    {r.HeartbeatTimeout, ms(2000)},
		"election_timeout":     {r.ElectionTimeout, ms(2000)},
		"leader_lease_timeout": {r.LeaderLeaseTimeout, ms(1000)},
		"commit_timeout":       {r.CommitTimeout, ms(50)},
		"snapshot_interval":    {r.SnapshotInterval, ms(10000)},
		"snapshot_threshold":   {r.SnapshotThreshold, uint64(1024)},
		"trailing_logs":        {r.TrailingLogs, uint64(1024)},
		"connect":              {to.Connect, ms(5000)},
		"client":               {to.Client, ms(30000)},
		"server":               {to.Server, ms(30000)},
		"http_request":         {to.HTTPRequest, ms(10000)},
		"http_keep_alive":      {to.HTTPKeepAlive, ms(60000)},
		"queue":                {to.Queue, ms(5000)},
		"shutdown":             {to.Shutdown, ms(15000)},
		"batch_size":           {p.BatchSize, 512},
		"flush_interval":       {p.FlushInterval, ms(2)},
		"queue_size":           {p.QueueSize, 65536},
	} {
		if pair[0] != pair[1] {
			t.Errorf("default %s = %v, want %v", name, pair[0], pair[1])
		}
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	c, err := Load("testdata/anchors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	green := c.Backends[1]
	if green.Name != "green" || green.Balance != "leastconn" || green.Cookie == nil || green.Cookie.Mode != "prefix" || len(green.Servers) != 2 {
		t.Errorf("merged backend = %+v", green)
	}
	if c.Backends[0].Name != "blue" {
		t.Errorf("anchored backend renamed: %+v", c.Backends[0])
	}
}

func TestExamples(t *testing.T) {
	for i, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
		n := string(rune('1' + i))
		path := "../../../examples/cluster/node" + n + ".yaml"
		c, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if c.Node.ID != "node"+n || c.Node.AZ != az || c.Node.DataDir != "/tmp/haraft/node"+n ||
			c.Raft.Advertise != "127.0.0.1:700"+n || len(c.Raft.Peers) != 3 || !c.Raft.Bootstrap ||
			c.HTTP.Addr != "127.0.0.1:910"+n || c.Frontends[0].Bind != "127.0.0.1:800"+n ||
			c.Backends[0].Cookie == nil || c.Backends[0].Cookie.Mode != CookieLearn || c.Backends[0].Cookie.Name != "JSESSIONID" ||
			len(c.Backends[0].Servers) != 2 || c.Backends[0].Servers[1].Addr != "127.0.0.1:9002" {
			t.Errorf("%s: unexpected %+v", path, public(c))
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "1s", want: time.Second},
		{in: "2m", want: 2 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "0", want: 0},
		{in: "1x", err: `invalid duration "1x": units are ns, us, ms, s, m, h`},
		{in: "1000", err: `invalid duration "1000": missing unit, e.g. "1000ms"`},
		{in: "", err: `invalid duration ""`},
		{in: "fast", err: `invalid duration "fast"`},
	} {
		d, err := ParseDuration(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseDuration(%q) err = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || d.Duration != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, d, err, tc.want)
		}
	}

	// Plain yaml.v3 marshalling both ways.
	type holder struct {
		D Duration `yaml:"d"`
	}
	out, err := yaml.Marshal(holder{ms(1500)})
	if err != nil || string(out) != "d: 1.5s\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
	var h holder
	if err := yaml.Unmarshal([]byte("d: 2m\n"), &h); err != nil || h.D != ms(120000) {
		t.Errorf("Unmarshal = %v, %v", h.D, err)
	}
	if err := yaml.Unmarshal([]byte("d: 1x\n"), &h); err == nil || !strings.Contains(err.Error(), `line 1: invalid duration "1x"`) {
		t.Errorf("Unmarshal bad = %v", err)
	}
	if err := yaml.Unmarshal([]byte("d: [1s]\n"), &h); err == nil || !strings.Contains(err.Error(), "expected a duration, got a sequence") {
		t.Errorf("Unmarshal sequence = %v", err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("3s")); err != nil || d != ms(3000) {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "3s" {
		t.Errorf("MarshalText = %q", b)
	}
}

// devConfig is a valid config built in code, as dev mode does.
func devConfig() *Config {
	c := &Config{
		Node: Node{ID: "dev", DataDir: "/tmp/dev"},
		Raft: Raft{Bind: "127.0.0.1:17000", Bootstrap: true, Peers: []Peer{{ID: "dev", Addr: "127.0.0.1:17000"}}},
		HTTP: HTTP{Addr: "127.0.0.1:0"},
		Frontends: []Frontend{
			{Name: "web", Bind: "127.0.0.1:0", Backend: "app"},
			{Name: "web2", Bind: "127.0.0.1:0", Backend: "app"}, // port 0 twice is no conflict
		},
		Backends: []Backend{{
			Name:    "app",
			Cookie:  &Cookie{Name: "SRV", Mode: CookieInsert},
			Servers: []Server{{Name: "A", Addr: "127.0.0.1:9001", Weight: 1}},
		}},
	}
	c.ApplyDefaults()
	return c
}

func TestValidateCodeBuilt(t *testing.T) {
	c := devConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("valid dev config: %v", err)
	}
	// ApplyDefaults filled what the file would have defaulted.
	if c.Raft.Advertise != c.Raft.Bind || c.Node.AZ != DefaultAZ || c.Raft.HeartbeatTimeout != ms(2000) ||
		c.Proposals.BatchSize != 512 || c.Backends[0].Balance != BalanceRoundRobin ||
		c.Backends[0].LearnCommit != LearnCommitAsync || c.Backends[0].Servers[0].Cookie != "A" {
		t.Errorf("ApplyDefaults: %+v", public(c))
	}

	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"server addr", func(c *Config) { c.Backends[0].Servers[0].Addr = "10.0.0.5" },
			[]string{`<dev>: backends[0].servers[0].addr: missing port in address "10.0.0.5"`}},
		{"file named", func(c *Config) { c.File = "dev.yaml"; c.Node.ID = "" },
			[]string{`dev.yaml: node.id: required`}},
		{"zero durations without ApplyDefaults", func(c *Config) { c.Timeouts.Client = Duration{}; c.Raft.CommitTimeout = Duration{} },
			[]string{
				`<dev>: raft.commit_timeout: 0s is too short: must be at least 1ms`,
				`<dev>: timeouts.client: must be greater than 0`,
			}},
		{"empty enums without ApplyDefaults", func(c *Config) { c.Backends[0].Balance = "" },
			[]string{`<dev>: backends[0].balance: required (one of: roundrobin, leastconn, source, random)`}},
		{"advertise left empty", func(c *Config) { c.Raft.Advertise = ""; c.Raft.Bind = "0.0.0.0:17000"; c.Raft.Insecure = true },
			[]string{`<dev>: raft.advertise: defaults to raft.bind "0.0.0.0:17000", an address on all interfaces`}},
		{"weight", func(c *Config) { c.Backends[0].Servers[0].Weight = 300 },
			[]string{`<dev>: backends[0].servers[0].weight: 300 is out of range 0..256`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := devConfig()
			c.advertiseFromBind = false
			tc.mutate(c)
			checkErrors(t, c.Validate(), tc.want)
		})
	}
}

// checkErrors checks that err is Errors whose messages start, in order,
// with want.
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T), want Errors", err, err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("got errors:\n  %s\nwant prefixes:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err.Error() != strings.Join(got, "\n") {
		t.Errorf("Error() = %q, want the errors joined by newlines", err.Error())
	}
	var one *Error
	if !errors.As(err, &one) || one != es[0] {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestBackendOptions(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       map[string]bool
	}{
		{"absent: defaults", "", map[string]bool{OptionForwardFor: true, OptionRedispatch: true, OptionHTTPClose: false, OptionForwardedProtoHost: false}},
		{"empty: none", "    options: []\n", map[string]bool{OptionForwardFor: false, OptionRedispatch: false}},
		{"explicit", "    options: [httpclose, forwarded-proto-host]\n", map[string]bool{OptionForwardFor: false, OptionRedispatch: false, OptionHTTPClose: true, OptionForwardedProtoHost: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(strings.Replace(base, "    servers:\n", tc.line+"    servers:\n", 1)))
			if err != nil {
				t.Fatal(err)
			}
			for opt, want := range tc.want {
				if got := c.Backends[0].Option(opt); got != want {
					t.Errorf("Option(%s) = %v, want %v", opt, got, want)
				}
			}
		})
	}
}
