//go:build linux

package eipmover

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// testNet is a set of network namespaces made by one test: a hub
// namespace holding a bridge, and one namespace per member, each with an
// eth0 on the bridge and an address in 198.18.0.0/24 (RFC 2544, never
// routed). Everything is removed at cleanup, also when the test fails.
type testNet struct {
	t       *testing.T
	prefix  string
	members map[string]string // member -> its 198.18.0.x address
}

// needNetns skips the test where namespaces cannot be made.
func needNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create network namespaces")
	}
}

func newTestNet(t *testing.T, members ...string) *testNet {
	t.Helper()
	needNetns(t)
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	n := &testNet{t: t, prefix: "hrt-" + hex.EncodeToString(b), members: map[string]string{}}
	hub := n.ns("hub")
	var made []string
	t.Cleanup(func() {
		for _, ns := range made {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Logf("cleanup: ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", hub)
	made = append(made, hub)
	run("-n", hub, "link", "add", "br0", "type", "bridge")
	run("-n", hub, "link", "set", "br0", "up")
	for i, m := range members {
		ns := n.ns(m)
		run("netns", "add", ns)
		made = append(made, ns)
		port := fmt.Sprintf("p%d", i)
		run("-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run("-n", hub, "link", "set", port, "master", "br0", "up")
		addr := fmt.Sprintf("198.18.0.%d", 10+i)
		run("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
		run("-n", ns, "link", "set", "lo", "up")
		n.members[m] = addr
	}
	return n
}

// ns returns a member's namespace name.
func (n *testNet) ns(member string) string { return n.prefix + "-" + member }

// path returns a member's namespace path.
func (n *testNet) path(member string) string { return "/var/run/netns/" + n.ns(member) }

// in runs fn inside a member's namespace.
func (n *testNet) in(member string, fn func() error) error {
	h, err := netns.GetFromName(n.ns(member))
	if err != nil {
		return err
	}
	defer h.Close()
	return runInNetns(h, fn)
}

// serve answers every TCP connection to port, in member's namespace and
// on all its addresses (VIPs included), with the member's name.
func (n *testNet) serve(member string, port int) {
	n.t.Helper()
	var ln net.Listener
	if err := n.in(member, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", member)
			c.Close()
		}
	}()
}

// dial opens a TCP connection from member's namespace and returns the
// first line the server sends.
func (n *testNet) dial(member, addr string, timeout time.Duration) (string, error) {
	var conn net.Conn
	if err := n.in(member, func() (err error) {
		// The socket is made (and the SYN sent) on this thread, inside the
		// namespace; the rest may run anywhere.
		conn, err = (&net.Dialer{Timeout: timeout}).DialContext(context.Background(), "tcp4", addr)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}
