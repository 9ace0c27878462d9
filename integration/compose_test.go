//go:build compose

package integration

// The compose test: the cluster of docker-compose.yml (three nodes in three
// AZs, two demo backends, the EC2 emulator) brought up with a real compose
// tool, stickiness checked through every node, the leader's container
// killed, stickiness checked again through the survivors, the container
// started again, checked through all; then the cluster is taken down
// without its volumes and brought up again, and every node still has the
// sessions (the data dirs live in the nodes' volumes); then everything,
// volumes included, is torn down.
//
//	.ci/compose-test                     # podman + podman-compose + runc, prebuilt static image
//	HARAFT_COMPOSE="docker compose" HARAFT_ENGINE=docker \
//	  go test -tags compose -run TestCompose -count=1 ./integration/   # Docker (builds from source)
//
// It runs only with HARAFT_COMPOSE_TEST=1 (the script sets it).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type composeNode struct {
	id, container string
	proxy, ops    string // base URLs on the host's loopback
}

var composeNodes = []composeNode{
	{"node1", "haraft-node1", "http://127.0.0.1:18081/", "http://127.0.0.1:19101"},
	{"node2", "haraft-node2", "http://127.0.0.1:18082/", "http://127.0.0.1:19102"},
	{"node3", "haraft-node3", "http://127.0.0.1:18083/", "http://127.0.0.1:19103"},
}

func TestCompose(t *testing.T) {
	if os.Getenv("HARAFT_COMPOSE_TEST") != "1" {
		t.Skip("compose test: set HARAFT_COMPOSE_TEST=1 (see .ci/compose-test)")
	}
	compose := strings.Fields(envOr("HARAFT_COMPOSE", "podman-compose"))
	engine := envOr("HARAFT_ENGINE", "podman")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	run := func(timeout time.Duration, name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	composeCmd := func(timeout time.Duration, args ...string) (string, error) {
		return run(timeout, compose[0], append(append(compose[1:], "-p", "haraft"), args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range composeNodes {
				out, _ := run(30*time.Second, engine, "logs", "--tail", "30", n.container)
				t.Logf("--- %s:\n%s", n.container, out)
			}
		}
		if _, err := composeCmd(3*time.Minute, "down", "-v", "-t", "3"); err != nil {
			t.Errorf("compose down: %v", err)
		}
	})
	// up brings the cluster up and fails unless every container runs and
	// every node is ready (compose up -d exits 0 even when a container
	// could not start).
	up := func(args ...string) {
		t.Helper()
		if _, err := composeCmd(10*time.Minute, append([]string{"up", "-d"}, args...)...); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "integration/compose/wait-up.sh")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "ENGINE="+engine, "WAIT=120")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("compose up: %v\n%s", err, out)
		}
	}
	if os.Getenv("HARAFT_COMPOSE_BUILD") == "1" {
		up("--build")
	} else {
		up()
	}

	hc := &http.Client{Timeout: 2 * time.Second}
	status := func(n composeNode) (map[string]any, error) {
		resp, err := hc.Get(n.ops + "/status")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var st map[string]any
		err = json.NewDecoder(resp.Body).Decode(&st)
		return st, err
	}
	// waitLeader waits until every node of among is ready and names one
	// leader among them, and returns it.
	waitLeader := func(among []composeNode, notTerm float64) composeNode {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			leader, ok := "", true
			var term float64
			for _, n := range among {
				st, err := status(n)
				if err != nil || st["ready"] != true || st["leader"] == "" || (leader != "" && st["leader"] != leader) {
					ok = false
					break
				}
				leader, _ = st["leader"].(string)
				term, _ = st["term"].(float64)
			}
			if ok && term != notTerm {
				for _, n := range among {
					if n.id == leader {
						return n
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("no agreed leader among %v within 90s", among)
		return composeNode{}
	}
	get := func(n composeNode, cookie string) (backend, session string, err error) {
		req, _ := http.NewRequest("GET", n.proxy, nil)
		if cookie != "" {
			req.Header.Set("Cookie", "JSESSIONID="+cookie)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return "", "", fmt.Errorf("%s: %s", n.id, resp.Status)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "JSESSIONID" {
				session = c.Value
			}
		}
		return resp.Header.Get("X-Backend"), session, nil
	}

	leader := waitLeader(composeNodes, -1)
	t.Logf("cluster up; leader %s", leader.id)

	// The EC2 mover, through the emulator: each Elastic IP associated with
	// exactly one node's instance.
	eips := func() (map[string]string, error) {
		resp, err := hc.Get("http://127.0.0.1:14566/_emu/state")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var st struct {
			Addresses []struct {
				AllocationID string `json:"allocation_id"`
				InstanceID   string `json:"instance_id"`
			} `json:"addresses"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, a := range st.Addresses {
			out[a.AllocationID] = a.InstanceID
		}
		return out, nil
	}
	waitEIPs := func(avoid string, when string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var last map[string]string
		for time.Now().Before(deadline) {
			m, err := eips()
			last = m
			ok := err == nil && len(m) == 2
			for _, inst := range m {
				if inst == "" || inst == avoid {
					ok = false
				}
			}
			if ok {
				t.Logf("%s: Elastic IPs %v", when, m)
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("%s: Elastic IPs not all associated (avoiding %q) within 60s: %v", when, avoid, last)
	}
	waitEIPs("", "cluster up")

	// Sessions learned through every node.
	sessions := map[string]string{} // cookie -> backend
	for i := 0; i < 30; i++ {
		n := composeNodes[i%3]
		b, s, err := get(n, "")
		if err != nil || s == "" {
			t.Fatalf("new session via %s: %v (cookie %q)", n.id, err, s)
		}
		sessions[s] = b
	}
	check := func(among []composeNode, when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			bad := 0
			var first string
			for s, want := range sessions {
				for _, n := range among {
					got, _, err := get(n, s)
					if err != nil || got != want {
						bad++
						if first == "" {
							first = fmt.Sprintf("session %s via %s: got %q (%v), want %s", s, n.id, got, err, want)
						}
					}
				}
			}
			if bad == 0 {
				t.Logf("%s: %d sessions stick to their backend through %d nodes", when, len(sessions), len(among))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d wrong answers, e.g. %s", when, bad, first)
			}
			time.Sleep(500 * time.Millisecond) // bindings still being applied
		}
	}
	check(composeNodes, "before the fault")

	st, _ := status(leader)
	term, _ := st["term"].(float64)
	if _, err := run(time.Minute, engine, "kill", leader.container); err != nil {
		t.Fatal(err)
	}
	var survivors []composeNode
	for _, n := range composeNodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	t0 := time.Now()
	nl := waitLeader(survivors, term)
	t.Logf("leader container %s killed; %s leads after %v", leader.container, nl.id, time.Since(t0).Round(time.Millisecond))
	check(survivors, "after the leader's container was killed")
	waitEIPs("i-"+leader.id, "after the leader's container was killed")

	if _, err := run(time.Minute, engine, "start", leader.container); err != nil {
		t.Fatal(err)
	}
	waitLeader(composeNodes, -1)
	check(composeNodes, "after it came back")
	waitEIPs("", "after it came back")

	// down without -v, up: the nodes start from their volumes.
	if _, err := composeCmd(3*time.Minute, "down", "-t", "3"); err != nil {
		t.Fatal(err)
	}
	up()
	waitLeader(composeNodes, -1)
	for _, n := range composeNodes {
		st, err := status(n)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := st["sessions"].(float64); int(got) < len(sessions) {
			t.Fatalf("after down and up: %s has %v sessions, want at least %d (data dir not kept?)", n.id, st["sessions"], len(sessions))
		}
	}
	check(composeNodes, "after down and up (data in the volumes)")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
