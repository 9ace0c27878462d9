package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haraft/haraft/cluster"
	"github.com/haraft/haraft/cmd/haraftd/daemon"
	"github.com/haraft/haraft/internal/freeport"
)

// The test binary runs as haraftd when this is set, so that the tests
// below start real processes without a separate build.
const asHaraftd = "HARAFTD_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asHaraftd) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// freePort is a port for haraftd to bind (freeport: outside the
// ephemeral range, so no outgoing connection takes it meanwhile).
func freePort(t *testing.T) int { return freeport.Port(t) }

// runConfig runs haraftd in process with the config file, its output into
// out and errb; done receives its exit code. stop cancels it and waits for
// it to end.
func runConfig(t *testing.T, file string, out, errb *syncBuffer) (done <-chan int, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan int, 1)
	go func() {
		ch <- runContext(ctx, []string{"-config", file, "-log-level", "info"}, out, errb, daemon.DefaultDevOptions)
	}()
	return ch, func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(2 * time.Minute):
			t.Errorf("haraftd did not stop:\n%s", errb.String())
		}
	}
}

// freeAddr is a loopback host:port for haraftd to bind.
func freeAddr(t *testing.T) string { return freeport.Addr(t) }

// reachableConfig is a one-node config whose cluster port listens on all
// interfaces (reachable from other hosts), with extra raft lines.
func reachableConfig(t *testing.T, raftExtra string) (path string, ops string) {
	t.Helper()
	dir := t.TempDir()
	raftPort, opsPort, webPort := freePort(t), freePort(t), freePort(t)
	ops = fmt.Sprintf("127.0.0.1:%d", opsPort)
	cfg := fmt.Sprintf(`node: {id: n1, data_dir: %s}
raft:
  bind: 0.0.0.0:%d
  advertise: 127.0.0.1:%d
  peers: [{id: n1, addr: "127.0.0.1:%d"}]%s
http: {addr: "%s"}
frontends: [{name: web, bind: "127.0.0.1:%d", backend: app}]
backends: [{name: app, servers: [{name: A, addr: "127.0.0.1:9"}]}]
`, filepath.Join(dir, "data"), raftPort, raftPort, raftPort, raftExtra, ops, webPort)
	path = filepath.Join(dir, "n1.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ops
}

// An insecure cluster port on a reachable address is refused by -check
// and at start with file:line: field: reason; said in so many words
// (raft.insecure: true), it starts, warns, and /status shows it.
func TestInsecureClusterPort(t *testing.T) {
	plain, _ := reachableConfig(t, "")
	insecure, ops := reachableConfig(t, "\n  insecure: true")
	want := plain + `:3: raft.tls: required: raft.bind "0.0.0.0:`
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"-check refuses plain TCP on all interfaces", []string{"-check", "-config", plain}, 1, want},
		{"start refuses it", []string{"-config", plain}, 1, want},
		{"-check accepts insecure: true and warns", []string{"-check", "-config", insecure}, 0, insecure + ":6: raft.insecure: the cluster port 0.0.0.0:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), asHaraftd+"=1")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), tc.out) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q", code, out, tc.code, tc.out)
			}
		})
	}

	t.Run("insecure: true starts, warns and shows it", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-config", insecure)
		cmd.Env = append(os.Environ(), asHaraftd+"=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer // everything it logs, for the failure messages
		warned := make(chan string, 1)
		exited := make(chan struct{})
		go func() {
			defer close(exited) // its stderr ends when it does
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				l := sc.Text()
				_, _ = logs.Write([]byte(l + "\n"))
				if strings.Contains(l, "level=WARN") && strings.Contains(l, "raft.insecure") {
					select {
					case warned <- l:
					default:
					}
				}
			}
		}()
		defer func() {
			_ = cmd.Process.Signal(os.Interrupt)
			<-exited
			_ = cmd.Wait()
		}()
		select {
		case <-warned:
		case <-time.After(20 * time.Second):
			t.Fatalf("no WARN about raft.insecure at start:\n%s", logs.String())
		}
		var st struct {
			ClusterInsecure *bool `json:"cluster_insecure"`
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + ops + "/status")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if err == nil {
					break
				}
			}
			select {
			case <-exited:
				t.Fatalf("haraftd exited before /status answered:\n%s", logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("/status: %v\n%s", err, logs.String())
			}
		}
		if st.ClusterInsecure == nil || !*st.ClusterInsecure {
			t.Fatalf("/status cluster_insecure = %v, want true", st.ClusterInsecure)
		}
	})
}

// haraftd tls ca create and cert create write a CA and node certificates
// whose identity names the node, refuse to overwrite, and explain misuse.
func TestTLSCommands(t *testing.T) {
	dir := t.TempDir()
	ca, out := filepath.Join(dir, "ca"), filepath.Join(dir, "node")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"ca create", []string{"tls", "ca", "create", "-dir", ca}, 0, "ca.pem"},
		{"ca create again refuses to overwrite", []string{"tls", "ca", "create", "-dir", ca}, 1, "refusing to overwrite"},
		{"node certificate", []string{"tls", "cert", "create", "-ca", ca, "-dir", out, "-node", "node1", "-ip", "10.0.1.10", "-dns", "node1.example"}, 0, "spiffe://haraft/node/node1"},
		{"node certificate again refuses", []string{"tls", "cert", "create", "-ca", ca, "-dir", out, "-node", "node1"}, 1, "refusing to overwrite"},
		{"client certificate", []string{"tls", "cert", "create", "-ca", ca, "-dir", out, "-client", "ops"}, 0, "no node identity"},
		{"neither node nor client", []string{"tls", "cert", "create", "-ca", ca, "-dir", out}, 2, "give -node ID or -client NAME"},
		{"no CA there", []string{"tls", "cert", "create", "-ca", out, "-dir", out, "-node", "n2"}, 1, "ca.pem"},
		{"unknown subcommand", []string{"tls", "ca", "delete"}, 2, "usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			code := run(tc.args, &o, &e)
			if all := o.String() + e.String(); code != tc.code || !strings.Contains(all, tc.out) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d containing %q", code, all, tc.code, tc.out)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(out, "node1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := cluster.NodeIDOf(cert); err != nil || id != "node1" {
		t.Fatalf("node id %q, %v", id, err)
	}
	if len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "10.0.1.10" || len(cert.DNSNames) != 1 || cert.DNSNames[0] != "node1.example" {
		t.Fatalf("SANs: %v %v", cert.IPAddresses, cert.DNSNames)
	}
	if fi, err := os.Stat(filepath.Join(ca, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v, %v", fi.Mode(), err)
	}
}
