package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/cmd/haraftd/daemon/daemontest"
	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// devCluster starts a secured 3-node dev cluster (daemontest's 300 ms Raft
// timeouts: 50 ms ones re-elect several times a second under -race here),
// three committed sessions and one EIP.
func devCluster(t *testing.T) *daemon.DevCluster {
	t.Helper()
	c := daemontest.StartDev(t, daemon.DevOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := c.Nodes[0].Node()
	var bs []*fsmpb.Binding
	for i, srv := range []string{"A", "B", "A"} {
		bs = append(bs, &fsmpb.Binding{Backend: "app", Key: fmt.Sprintf("s%d", i+1), Server: srv, CreatedUnixMs: time.Now().UnixMilli(), LearnedBy: "n1"})
	}
	if _, err := n.Apply(ctx, fsm.LearnSessionsType, &fsmpb.LearnSessions{Bindings: bs}); err != nil {
		t.Fatal(err)
	}
	eip := &fsmpb.EIP{Id: "eipalloc-1", Address: "198.51.100.7", HomeAz: "dev-a", Holder: "n1", Term: n.Raft().CurrentTerm(), Reason: "initial placement"}
	var nodes []*cluster.Node
	for _, d := range c.Nodes {
		nodes = append(nodes, d.Node())
	}
	if _, err := cluster.ApplyOnLeader(ctx, nodes, fsm.AssignEIPType, &fsmpb.AssignEIP{Eip: eip}); err != nil {
		t.Fatal(err)
	}
	// Every node has applied it all and registered its admin address.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok := true
		for _, d := range c.Nodes {
			ok = ok && d.FSM().SessionCount() == 3 && len(d.FSM().EIPs()) == 1 && registered(d.FSM()) == 3
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("state did not reach every node")
		}
	}
	return c
}

func registered(f *fsm.FSM) int {
	n := 0
	for _, nd := range f.Nodes() {
		if nd.AdminAddr != "" {
			n++
		}
	}
	return n
}

// env is the environment haraftctl sees: node i's address, the write
// token and the dev client certificate.
func env(c *daemon.DevCluster, i int) map[string]string {
	s := c.Security
	return map[string]string{
		"HARAFT_ADDR": c.Nodes[i].AdminAddr(), "HARAFT_TOKEN": s.WriteToken,
		"HARAFT_CA": s.TLS.CA, "HARAFT_CERT": s.TLS.Client.Cert, "HARAFT_KEY": s.TLS.Client.Key,
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func ctl(e map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return e[k] })
	return result{code, out.String(), errb.String()}
}

func with(e map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func followerIndex(t *testing.T, c *daemon.DevCluster) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, d := range c.Nodes {
			if id, _ := d.Node().Leader(); id != "" && !d.Node().IsLeader() {
				return i
			}
		}
	}
	t.Fatal("no follower with a known leader")
	return -1
}

// TestSubcommands runs every subcommand against a real cluster, in order
// (later steps see earlier steps' changes), through a follower so that
// writes and leader-only calls are redirected to the leader.
func TestSubcommands(t *testing.T) {
	c := devCluster(t)
	fi := followerIndex(t, c)
	e := env(c, fi)
	snap := filepath.Join(t.TempDir(), "cluster.snap")

	for _, tc := range []struct {
		args     []string
		code     int
		stdout   []string // substrings
		stderr   []string
		notInOut []string
		// eventually: retry for a while (a follower installs a restored
		// snapshot a little after the leader answers).
		eventually bool
	}{
		{args: []string{"status"}, stdout: []string{"node", fmt.Sprintf("n%d", fi+1), "state", "ready", "yes", "frontend web"}},
		{args: []string{"members"}, stdout: []string{"ID", "SUFFRAGE", "n1", "n2", "n3", "voter", "leader", "dev-a"}},
		{args: []string{"backends"}, stdout: []string{"BACKEND", "app", "A", "B", "ready"}},
		{args: []string{"drain", "app/B"}, stdout: []string{"app/B", "drain", "no"}},
		{args: []string{"backends", "app"}, stdout: []string{"drain"}, eventually: true}, // the leader answered the write
		{args: []string{"maint", "app/B"}, stdout: []string{"maint"}},
		{args: []string{"ready", "app/B"}, stdout: []string{"ready", "yes"}},
		{args: []string{"weight", "app/A", "5"}, stdout: []string{"app/A", " 5 "}},
		{args: []string{"weight", "app/A", "configured"}, stdout: []string{" 1 "}},
		{args: []string{"server", "add", "app/C", "127.0.0.1:9", "--weight", "3"}, stdout: []string{"app/C", "127.0.0.1:9", " 3 "}},
		{args: []string{"backends"}, stdout: []string{"C (added)"}, eventually: true},
		{args: []string{"server", "remove", "app/C"}, stdout: []string{"removed"}},
		{args: []string{"sessions", "count"}, stdout: []string{"total", " 3"}},
		{args: []string{"sessions", "get", "s1"}, stdout: []string{"s1", " A "}},
		{args: []string{"sessions", "list", "--limit", "2"}, stdout: []string{"s1", "s2"}, stderr: []string{"more sessions: --page-token"}, notInOut: []string{"s3"}},
		{args: []string{"sessions", "list", "--limit", "0", "--page-size", "1"}, stdout: []string{"s1", "s2", "s3"}},
		{args: []string{"sessions", "list", "--server", "B"}, stdout: []string{"s2"}, notInOut: []string{"s1", "s3"}},
		// A read token sees keys masked, and gets a key it holds.
		{args: []string{"sessions", "list", "--token", c.Security.ReadToken}, stdout: []string{"KEY", " h:"}, stderr: []string{"keys are masked"}, notInOut: []string{"s1", "s2", "s3"}},
		{args: []string{"sessions", "get", "s2", "--token", c.Security.ReadToken}, stdout: []string{"s2", " B "}},
		{args: []string{"sessions", "rebind", "s1", "B", "-b", "app"}, stdout: []string{"s1", " B "}},
		{args: []string{"snapshot", "save", snap}, stdout: []string{"saved", `"index"`}},
		{args: []string{"sessions", "delete", "s1"}, stdout: []string{"deleted session s1"}},
		{args: []string{"sessions", "get", "s1"}, code: exitNotFound, stderr: []string{`NotFound: session "s1"`}, eventually: true},
		{args: []string{"snapshot", "restore", snap}, stdout: []string{"restored", "3 sessions"}},
		{args: []string{"sessions", "get", "s1"}, stdout: []string{"s1", " B "}, eventually: true},
		{args: []string{"eips"}, stdout: []string{"eipalloc-1", "198.51.100.7", "dev-a", "n1", "initial placement"}},
		{args: []string{"eip", "move", "eipalloc-1", "n2", "--reason", "maintenance of n1"}, stdout: []string{"n2", "maintenance of n1 (dev-write)"}},
		{args: []string{"eip", "pin", "eipalloc-1"}, stdout: []string{"yes"}},
		{args: []string{"eip", "move", "eipalloc-1", "n3"}, code: exitRefused, stderr: []string{"pinned to n2: unpin it first"}},
		{args: []string{"eip", "unpin", "eipalloc-1"}, stdout: []string{"eipalloc-1", " no "}},
		{args: []string{"watch", "--replay", "--count", "2", "--type", "server"}, stdout: []string{"server", "app/B set drain (was ready)"}},
		{args: []string{"watch", "--replay", "--count", "1", "--type", "eip", "-o", "json"}, stdout: []string{`"type":"EVENT_EIP_MOVED"`}},
		// Through a follower: redirected to the leader (unless leadership
		// moved here meanwhile, as 50 ms timeouts allow).
		{args: []string{"members", "join", "n4", "127.0.0.1:1", "--nonvoter", "--force"}, stdout: []string{"n4 joined"}},
		{args: []string{"members"}, stdout: []string{"n4", "nonvoter"}, eventually: true},
		{args: []string{"members", "remove", "n4"}, stdout: []string{"n4 removed"}},
		{args: []string{"leader", "transfer"}, stdout: []string{"leader is now"}},

		// Errors and their exit codes.
		{args: []string{"drain", "app/Z"}, code: exitNotFound, stderr: []string{`server "Z" in backend app (servers: A, B)`}},
		{args: []string{"drain", "appB"}, code: exitUsage, stderr: []string{"BACKEND/SERVER"}},
		{args: []string{"weight", "app/A", "999"}, code: exitUsage, stderr: []string{"out of range 0..256"}},
		{args: []string{"backends", "nope"}, code: exitNotFound, stderr: []string{`backend "nope" (backends: app)`}},
		{args: []string{"members", "remove", "n9"}, code: exitNotFound, stderr: []string{`member "n9" is not in the configuration`}},
		{args: []string{"sessions", "get"}, code: exitUsage, stderr: []string{"accepts 1 arg"}},
		{args: []string{"status", "--bogus"}, code: exitUsage, stderr: []string{"unknown flag"}},
		{args: []string{"bogus"}, code: exitUsage, stderr: []string{"unknown command"}},
		{args: []string{"status", "-o", "yaml"}, code: exitUsage, stderr: []string{"use table or json"}},
		{args: []string{"completion", "bash"}, stdout: []string{"bash completion"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := ctl(e, tc.args...)
			done := func(r result) bool {
				for _, s := range tc.stdout {
					if !strings.Contains(r.stdout, s) {
						return false
					}
				}
				return r.code == tc.code
			}
			for deadline := time.Now().Add(5 * time.Second); tc.eventually && !done(r) && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				r = ctl(e, tc.args...)
			}
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range tc.notInOut {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, r.stdout)
				}
			}
		})
	}
}

// TestJSONOutput runs every command that prints a result with -o json on a
// real cluster: the output is JSON with the expected key, and no 64-bit
// integer is written as a string (protojson's default: "term": "2").
func TestJSONOutput(t *testing.T) {
	c := devCluster(t)
	e := env(c, 0)
	snap := filepath.Join(t.TempDir(), "s.snap")
	for _, tc := range []struct {
		args []string
		key  string
		// number is a path to a field that must be a JSON number.
		number []string
	}{
		{[]string{"status"}, "node_id", []string{"term"}},
		{[]string{"members"}, "members", []string{"members", "0", "last_contact_ms"}},
		{[]string{"backends"}, "backends", []string{"backends", "0", "servers", "0", "sessions"}},
		{[]string{"backends", "app"}, "backends", nil},
		{[]string{"sessions", "count"}, "by_server", []string{"total"}},
		{[]string{"sessions", "list"}, "sessions", []string{"sessions", "0", "created_unix_ms"}},
		{[]string{"sessions", "get", "s2"}, "learned_by", []string{"created_unix_ms"}},
		{[]string{"eips"}, "eips", []string{"eips", "0", "term"}},
		{[]string{"drain", "app/B"}, "admin", nil},
		{[]string{"ready", "app/B"}, "admin", nil},
		{[]string{"weight", "app/A", "4"}, "weight", []string{"weight"}},
		{[]string{"server", "add", "app/C", "127.0.0.1:9"}, "addr", nil},
		{[]string{"server", "remove", "app/C"}, "name", nil},
		{[]string{"sessions", "rebind", "s3", "B", "-b", "app"}, "server", []string{"created_unix_ms"}},
		{[]string{"sessions", "delete", "s3"}, "", nil},
		{[]string{"eip", "move", "eipalloc-1", "n2"}, "desired_holder", []string{"moved_unix_ms"}},
		{[]string{"eip", "pin", "eipalloc-1"}, "pinned", []string{"term"}},
		{[]string{"eip", "unpin", "eipalloc-1"}, "pinned", []string{"term"}},
		{[]string{"log", "reopen"}, "node_id", nil},
		{[]string{"snapshot", "save", snap}, "snapshot", []string{"bytes"}},
		{[]string{"snapshot", "restore", snap}, "sessions", []string{"index"}},
		{[]string{"leader", "transfer"}, "leader_id", nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := ctl(e, append(tc.args, "-o", "json")...)
			// A write checked on this node may see the previous write
			// only once it is applied here.
			for deadline := time.Now().Add(5 * time.Second); r.code != 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				r = ctl(e, append(tc.args, "-o", "json")...)
			}
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, r.stdout)
			}
			if _, ok := m[tc.key]; tc.key != "" && !ok {
				t.Fatalf("no %q in %s", tc.key, r.stdout)
			}
			noQuotedIntegers(t, m, r.stdout)
			if tc.number != nil {
				v := any(m)
				for _, k := range tc.number {
					switch x := v.(type) {
					case map[string]any:
						v = x[k]
					case []any:
						i, _ := strconv.Atoi(k)
						if i >= len(x) {
							t.Fatalf("%v: no element %d in %s", tc.number, i, r.stdout)
						}
						v = x[i]
					}
				}
				if _, ok := v.(json.Number); !ok {
					t.Fatalf("%v is %#v, want a number:\n%s", tc.number, v, r.stdout)
				}
			}
		})
	}
	// watch -o json: one event per line, its 64-bit fields numbers.
	r := ctl(e, "watch", "--replay", "--count", "1", "--type", "eip", "-o", "json")
	var ev map[string]any
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	if err := dec.Decode(&ev); r.code != 0 || err != nil {
		t.Fatalf("watch: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	noQuotedIntegers(t, ev, r.stdout)
	if _, ok := ev["unix_ms"].(json.Number); !ok {
		t.Fatalf("watch: unix_ms is not a number: %s", r.stdout)
	}
}

// noQuotedIntegers fails on any string value made only of digits: in
// haraft's admin API those are 64-bit integers protojson quoted.
func noQuotedIntegers(t *testing.T, v any, out string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			noQuotedIntegers(t, e, out)
		}
	case []any:
		for _, e := range x {
			noQuotedIntegers(t, e, out)
		}
	case string:
		if _, err := strconv.ParseInt(x, 10, 64); err == nil {
			t.Fatalf("quoted integer %q in:\n%s", x, out)
		}
	}
}

// TestRefusals proves that each kind of caller the cluster does not trust
// is refused, with the exit code that says so.
func TestRefusals(t *testing.T) {
	c := devCluster(t)
	e := env(c, 0)
	dir := t.TempDir()
	other, err := certs.NewCA("intruder CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.WriteCA(dir, "other-ca.pem"); err != nil {
		t.Fatal(err)
	}
	intruder, err := other.Issue(dir, "intruder")
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "read.token")
	if err := os.WriteFile(tokenFile, []byte(c.Security.ReadToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"no token", with(e, "HARAFT_TOKEN", ""), []string{"status"}, exitAuth, "Unauthenticated: missing bearer token"},
		{"unknown token", with(e, "HARAFT_TOKEN", "ffffffffffffffffffffffffffffffff"), []string{"status"}, exitAuth, "unknown bearer token"},
		{"read token may read", with(e, "HARAFT_TOKEN", c.Security.ReadToken), []string{"backends"}, exitOK, ""},
		{"read token from a file may read", with(e, "HARAFT_TOKEN", "", "HARAFT_TOKEN_FILE", tokenFile), []string{"sessions", "count"}, exitOK, ""},
		{"read token may not write", with(e, "HARAFT_TOKEN", c.Security.ReadToken), []string{"drain", "app/A"}, exitAuth, `PermissionDenied: token "dev-read" is read-only`},
		{"read token may not save snapshots", with(e, "HARAFT_TOKEN", c.Security.ReadToken), []string{"snapshot", "save", filepath.Join(dir, "s")}, exitAuth, "read-only"},
		{"no client certificate", with(e, "HARAFT_CERT", "", "HARAFT_KEY", ""), []string{"status"}, exitAuth, "TLS"},
		{"client certificate of another CA", with(e, "HARAFT_CERT", intruder.Cert, "HARAFT_KEY", intruder.Key), []string{"status"}, exitAuth, "TLS"},
		{"node certificate not trusted (wrong CA)", with(e, "HARAFT_CA", other.File), []string{"status"}, exitAuth, "certificate signed by unknown authority"},
		{"plaintext to a TLS listener", with(e, "HARAFT_CA", "", "HARAFT_CERT", "", "HARAFT_KEY", ""), []string{"status"}, exitUnavailable, "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d with %q\nstderr: %s", r.code, tc.code, tc.stderr, r.stderr)
			}
		})
	}
	// The drain was refused: nothing changed.
	if st := c.Nodes[0].FSM().Servers().Get("app", "A"); st.Admin != fsmpb.AdminState_ADMIN_READY {
		t.Fatalf("server state changed by a refused call: %+v", st)
	}
}

// TestHelp checks that every command has --help and a short description.
func TestHelp(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Short == "" {
			t.Errorf("%s: no short description", strings.Join(path, " "))
		}
		r := ctl(nil, append(path[1:], "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%s --help: exit %d\n%s%s", strings.Join(path, " "), r.code, r.stdout, r.stderr)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(path, sub.Name()))
		}
	}
	walk(a.rootCommand(), []string{"haraftctl"})
}

// TestVersion checks that both spellings print the build and need no node.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"-version", "--version"} {
		r := ctl(nil, arg)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "haraftctl ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%s: exit %d\n%s%s", arg, r.code, r.stdout, r.stderr)
		}
	}
}
