//go:build linux

package eipmover

// Tests of the VIP guard (guard.go, guard_linux.go) with real processes in
// real network namespaces. The test binary is the guard's binary: TestMain
// calls GuardMain, so StartGuard can re-execute it as a guard. A test that
// needs a node process it can kill or freeze re-executes the test binary
// once more as a "guard owner" (guardOwnerMain): that process starts a guard
// with StartGuard, heart-beats it, and reports on its stdout; the test then
// kills or stops the owner's whole process group, as kill -9 or a SIGSTOP
// of haraftd would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// guardOwnerEnv, set to a JSON guardOwnerSpec, makes the test binary a
// guard owner instead of running the tests.
const guardOwnerEnv = "HARAFT_GUARD_TEST_OWNER"

func TestMain(m *testing.M) {
	GuardMain() // a guard started by StartGuard from this binary runs here and exits
	if spec := os.Getenv(guardOwnerEnv); spec != "" {
		os.Exit(guardOwnerMain(spec))
	}
	os.Exit(m.Run())
}

type guardOwnerSpec struct {
	Interface string
	NetnsPath string
	Addresses []string
	Lease     time.Duration
}

// guardOwnerMain is the owner process: it starts a guard, says "ready",
// and heart-beats it until killed. On a heartbeat gap it holds the
// heartbeat back a moment (OnGap runs before the next heartbeat is
// written) and says "gap N", N the bytes the guard has read from its
// heartbeat pipe by then: a heartbeat written after the gap but before
// OnGap would have been read meanwhile.
func guardOwnerMain(spec string) int {
	var s guardOwnerSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "guard owner:", err)
		return 2
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", a...)
	}
	log := testLogger().With("guard_test_owner", os.Getpid())
	_, err := StartGuard(GuardConfig{Interface: s.Interface, NetnsPath: s.NetnsPath, Addresses: s.Addresses, Lease: s.Lease, Logger: log,
		OnGap: func() {
			time.Sleep(s.Lease / 4)
			read := int64(-1)
			if pids := guardPids(s.NetnsPath); len(pids) == 1 {
				read = guardReadBytes(pids[0])
			}
			say("gap %d", read)
		}})
	if err != nil {
		say("error %v", err)
		return 1
	}
	say("ready")
	select {} // heart-beat until killed
}

// Addresses of the guard tests, all in 198.18.0.0/15 (never routed).
const (
	gVIP1    = "198.18.0.100" // configured, held: the guard drops it
	gVIP2    = "198.18.0.101" // configured, held: the guard drops it
	gVIPIdle = "198.18.0.103" // configured, not held: nothing to drop
	gOther   = "198.18.0.102" // held, not configured: the guard leaves it
)

var gConfigured = []string{gVIP1, gVIP2, gVIPIdle}

// guardNet is a test network (n1, the guarded node, and n2, another node)
// with netlink handles into both.
type guardNet struct {
	t      *testing.T
	tn     *testNet
	h1, h2 *netlink.Handle
}

func newGuardNet(t *testing.T) *guardNet {
	t.Helper()
	tn := newTestNet(t, "n1", "n2")
	// A guard built with -race would sleep a second in the race
	// detector's exit, after it dropped the VIPs.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	g := &guardNet{t: t, tn: tn, h1: nsHandle(t, tn, "n1"), h2: nsHandle(t, tn, "n2")}
	// n1 holds two configured VIPs and an address the guard was not
	// given; n2 holds the first VIP too (another node's interface, which
	// n1's guard must not reach).
	g.add(g.h1, gVIP1, gVIP2, gOther)
	g.add(g.h2, gVIP1)
	return g
}

func nsHandle(t *testing.T, tn *testNet, member string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(tn.path(member))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func (g *guardNet) add(h *netlink.Handle, addrs ...string) {
	g.t.Helper()
	link, err := h.LinkByName("eth0")
	if err != nil {
		g.t.Fatal(err)
	}
	for _, a := range addrs {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(a).To4(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			g.t.Fatalf("add %s: %v", a, err)
		}
	}
}

// on returns the IPv4 addresses on eth0 of h's namespace.
func (g *guardNet) on(h *netlink.Handle) map[string]bool {
	g.t.Helper()
	link, err := h.LinkByName("eth0")
	if err != nil {
		g.t.Fatal(err)
	}
	list, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		g.t.Fatal(err)
	}
	on := map[string]bool{}
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			on[ip.Unmap().String()] = true
		}
	}
	return on
}

// waitDropped waits until neither configured VIP is on n1 and returns how
// long that took, or fails after timeout.
func (g *guardNet) waitDropped(what string, timeout time.Duration) time.Duration {
	g.t.Helper()
	start := time.Now()
	for {
		on := g.on(g.h1)
		if !on[gVIP1] && !on[gVIP2] {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			g.t.Fatalf("%s: the guard did not drop the VIPs within %v (n1 has %v)", what, timeout, on)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// keeps checks, every couple of milliseconds for d, that both configured
// VIPs stay on n1.
func (g *guardNet) keeps(what string, d time.Duration) {
	g.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if on := g.on(g.h1); !on[gVIP1] || !on[gVIP2] {
			g.t.Fatalf("%s: a VIP was dropped (n1 has %v)", what, on)
		}
	}
}

// untouched checks what the guard must leave alone: n1's own address and
// the address it was not given, and n2's copy of a VIP.
func (g *guardNet) untouched() {
	g.t.Helper()
	if on := g.on(g.h1); !on[g.tn.members["n1"]] || !on[gOther] {
		g.t.Errorf("the guard removed an address it was not given: n1 has %v, want %s and %s", on, g.tn.members["n1"], gOther)
	}
	if on := g.on(g.h2); !on[gVIP1] {
		g.t.Errorf("the guard of n1 removed %s from n2 (n2 has %v)", gVIP1, on)
	}
}

// guardPids returns the live guard processes acting in the namespace at
// netnsPath (a guard's environment names it).
func guardPids(netnsPath string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		vars := map[string]bool{}
		for _, v := range bytes.Split(env, []byte{0}) {
			vars[string(v)] = true
		}
		if vars[guardEnv+"=1"] && vars[guardNetnsEnv+"="+netnsPath] && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// guardReady reports whether the guard has opened its namespace (NewVIP
// keeps a handle on it): it is about to read its heartbeat.
func guardReady(pid int, netnsPath string) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		// The link names the namespace's file (/run/netns/NAME), or is
		// net:[INODE].
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && (strings.HasSuffix(l, "/netns/"+filepath.Base(netnsPath)) || strings.HasPrefix(l, "net:[")) {
			return true
		}
	}
	return false
}

// guardReadBytes returns how many bytes the process has read (rchar):
// once the guard runs, only its heartbeats.
func guardReadBytes(pid int) int64 {
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// waitGuard waits for a ready guard in the namespace other than not.
func waitGuard(t *testing.T, netnsPath string, not int, timeout time.Duration) int {
	t.Helper()
	for start := time.Now(); time.Since(start) < timeout; time.Sleep(5 * time.Millisecond) {
		for _, pid := range guardPids(netnsPath) {
			if pid != not && guardReady(pid, netnsPath) {
				return pid
			}
		}
	}
	t.Fatalf("no guard process for %s within %v", netnsPath, timeout)
	return 0
}

var subreaper sync.Once

// guardOwner is an owner process (see guardOwnerMain) and its guard.
type guardOwner struct {
	t       *testing.T
	cmd     *exec.Cmd
	exited  chan struct{}
	lines   chan string
	logPath string
	guard   int
	reaped  atomic.Bool
}

// startOwner starts an owner in its own process group and waits until its
// guard is ready. The test process becomes a child subreaper, so the guard,
// orphaned when its owner dies, is reparented to it and can be reaped and
// its exit status checked.
func startOwner(t *testing.T, g *guardNet, lease time.Duration) *guardOwner {
	t.Helper()
	subreaper.Do(func() {
		const prSetChildSubreaper = 36
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
			t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
		}
	})
	spec, err := json.Marshal(guardOwnerSpec{Interface: "eth0", NetnsPath: g.tn.path("n1"), Addresses: gConfigured, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o := &guardOwner{t: t, exited: make(chan struct{}), lines: make(chan string, 64), logPath: t.TempDir() + "/owner.log"}
	logf, err := os.Create(o.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	o.cmd = exec.Command(self)
	o.cmd.Env = append(os.Environ(), guardOwnerEnv+"="+string(spec))
	// Files, not writers: no copying goroutine for Wait to wait on while
	// the guard, which inherits the owner's stderr, lives on.
	o.cmd.Stdout, o.cmd.Stderr = w, logf
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := o.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	go func() { _ = o.cmd.Wait(); close(o.exited) }()
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			o.lines <- sc.Text()
		}
		close(o.lines)
	}()
	t.Cleanup(o.cleanup)
	if l := o.line(10 * time.Second); l != "ready" {
		t.Fatalf("owner: %q, want ready", l)
	}
	o.guard = waitGuard(t, g.tn.path("n1"), 0, 10*time.Second)
	return o
}

// line returns the owner's next line of output ("" at its end).
func (o *guardOwner) line(timeout time.Duration) string {
	o.t.Helper()
	select {
	case l := <-o.lines:
		return l
	case <-time.After(timeout):
		o.t.Fatalf("owner: no output within %v", timeout)
		return ""
	}
}

// noLine checks that the owner said nothing (no heartbeat gap) so far.
func (o *guardOwner) noLine(what string) {
	o.t.Helper()
	select {
	case l := <-o.lines:
		o.t.Fatalf("%s: owner said %q", what, l)
	default:
	}
}

// signal sends sig to the owner's process group (the guard, in its own
// session, is not in it).
func (o *guardOwner) signal(sig syscall.Signal) {
	o.t.Helper()
	if err := syscall.Kill(-o.cmd.Process.Pid, sig); err != nil {
		o.t.Fatalf("kill -%d -%d: %v", sig, o.cmd.Process.Pid, err)
	}
}

// kill kills the owner's process group and waits until the owner is gone.
func (o *guardOwner) kill() {
	o.t.Helper()
	_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-o.exited:
	case <-time.After(5 * time.Second):
		o.t.Fatal("the owner did not die")
	}
}

// reapGuard waits up to timeout for the guard, orphaned by the owner's
// death and so a child of this process, to end, and says how it ended:
// "exit status 0" for a guard that exited by itself.
func (o *guardOwner) reapGuard(timeout time.Duration) string {
	o.t.Helper()
	o.reaped.Store(true)
	p, err := os.FindProcess(o.guard)
	if err != nil {
		return err.Error()
	}
	type result struct {
		st  *os.ProcessState
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := p.Wait()
		done <- result{st, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(timeout):
		_ = p.Kill()
		<-done
		return fmt.Sprintf("still running after %v (killed)", timeout)
	}
	if r.err != nil {
		return r.err.Error()
	}
	return r.st.String()
}

func (o *guardOwner) cleanup() {
	_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
	<-o.exited
	if !o.reaped.Load() && o.guard != 0 {
		if how := o.reapGuard(3 * time.Second); how != "exit status 0" {
			o.t.Errorf("the guard %d after its owner died: %s, want exit status 0", o.guard, how)
		}
	}
	if o.t.Failed() {
		out, _ := os.ReadFile(o.logPath)
		o.t.Logf("owner and guard log:\n%s", out)
	}
}

// kill -9 of the node's process group: the guard, in its own session,
// survives it, reads the end of its heartbeat pipe and drops every VIP at
// once — not a lease later — and only the configured ones of its own
// namespace; then it exits with status 0.
func TestGuardDropsVIPsWhenOwnerKilled(t *testing.T) {
	g := newGuardNet(t)
	const lease = 3 * time.Second // far longer than the drop may take: the end of file, not the silence, must trigger it
	o := startOwner(t, g, lease)
	g.keeps("owner alive", 300*time.Millisecond)

	start := time.Now()
	o.kill()
	g.waitDropped("owner killed", lease/3)
	t.Logf("the guard dropped the VIPs %v after kill -9 of the owner (lease %v)", time.Since(start).Round(time.Millisecond), lease)
	g.untouched()
	if how := o.reapGuard(2 * time.Second); how != "exit status 0" {
		t.Errorf("the guard after its owner died: %s, want exit status 0", how)
	}
}

// An owner that heart-beats keeps its VIPs over many leases, also across a
// stop shorter than the lease; the guard reports no gap.
func TestGuardKeepsVIPsWhileOwnerBeats(t *testing.T) {
	g := newGuardNet(t)
	const lease = 400 * time.Millisecond
	o := startOwner(t, g, lease)
	g.keeps("owner heart-beating", 5*lease)
	o.noLine("owner heart-beating")

	o.signal(syscall.SIGSTOP)
	time.Sleep(lease / 4)
	o.signal(syscall.SIGCONT)
	g.keeps("after a stop of a quarter lease", 3*lease)
	o.noLine("after a stop of a quarter lease")
	g.untouched()
}

// SIGSTOP of the node's process group: about a lease after the last
// heartbeat the guard drops the VIPs, and keeps running. When the owner
// runs again, OnGap is called before its next heartbeat; once the node has
// taken the VIPs back, the guard leaves them while the owner beats, and
// drops them again at the next freeze.
func TestGuardDropsVIPsWhenOwnerFrozen(t *testing.T) {
	g := newGuardNet(t)
	const lease = 400 * time.Millisecond
	o := startOwner(t, g, lease)
	g.keeps("owner heart-beating", 2*lease)

	o.signal(syscall.SIGSTOP)
	took := g.waitDropped("owner stopped", lease+time.Second)
	t.Logf("the guard dropped the VIPs %v after SIGSTOP of the owner (lease %v)", took.Round(time.Millisecond), lease)
	if took < lease/2 { // the last heartbeat came at most lease/10 before the stop
		t.Errorf("the guard dropped the VIPs %v after the owner stopped: long before its lease %v ran out", took, lease)
	}
	g.untouched()
	time.Sleep(lease / 2)
	if !processAlive(o.guard) {
		t.Fatal("the guard exited while its owner was stopped; it must keep waiting")
	}

	// The guard may still be reading the replies to its address deletions
	// on a busy machine: sample its read count once it stopped moving.
	read := guardReadBytes(o.guard)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		again := guardReadBytes(o.guard)
		if again == read {
			break
		}
		read = again
	}
	o.signal(syscall.SIGCONT)
	l := o.line(5 * time.Second)
	n, ok := strings.CutPrefix(l, "gap ")
	if !ok {
		t.Fatalf("after SIGCONT the owner said %q, want a heartbeat gap", l)
	}
	if n != strconv.FormatInt(read, 10) {
		t.Errorf("OnGap came after a heartbeat: the guard had read %d bytes at SIGCONT, %s by OnGap", read, n)
	}
	o.noLine("after the gap") // one gap, not one per heartbeat

	// The node takes the VIPs back (its agent, after catching up).
	g.add(g.h1, gVIP1, gVIP2)
	g.keeps("owner running again", 3*lease)
	o.noLine("owner running again")

	o.signal(syscall.SIGSTOP)
	took = g.waitDropped("owner stopped again", lease+time.Second)
	t.Logf("second stop: dropped after %v", took.Round(time.Millisecond))
	g.untouched()
	o.kill()
	if how := o.reapGuard(2 * time.Second); how != "exit status 0" {
		t.Errorf("the guard after its owner died: %s, want exit status 0", how)
	}
}

// startLocalGuard starts a guard for n1 from the test process.
func startLocalGuard(t *testing.T, g *guardNet, lease time.Duration, gaps *atomic.Int32) *Guard {
	t.Helper()
	gd, err := StartGuard(GuardConfig{Interface: "eth0", NetnsPath: g.tn.path("n1"), Addresses: gConfigured, Lease: lease,
		OnGap: func() { gaps.Add(1) }, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(gd.Close)
		for _, pid := range guardPids(g.tn.path("n1")) {
			t.Errorf("the guard %d still runs after Close; killing it", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return gd
}

// Guard.Close (a clean stop of the node) ends the heartbeat: the guard
// drops the VIPs and exits, and Close returns only then.
func TestGuardCloseDropsVIPs(t *testing.T) {
	g := newGuardNet(t)
	const lease = 400 * time.Millisecond
	var gaps atomic.Int32
	gd := startLocalGuard(t, g, lease, &gaps)
	pid := waitGuard(t, g.tn.path("n1"), 0, 10*time.Second)
	g.keeps("node running", 3*lease)
	if n := gaps.Load(); n != 0 {
		t.Errorf("OnGap called %d times while the node ran", n)
	}

	start := time.Now()
	gd.Close()
	t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	if on := g.on(g.h1); on[gVIP1] || on[gVIP2] {
		t.Errorf("after Close n1 still has a VIP: %v", on)
	}
	g.untouched()
	if processAlive(pid) {
		t.Errorf("the guard %d still runs after Close", pid)
	}
	gd.Close() // a second Close is fine
}

// A guard that dies (kill -9) is started again, and OnGap is called (the
// node was unguarded meanwhile); the new guard does its job.
func TestGuardRestartedAfterItDies(t *testing.T) {
	g := newGuardNet(t)
	const lease = 400 * time.Millisecond
	var gaps atomic.Int32
	gd := startLocalGuard(t, g, lease, &gaps)
	first := waitGuard(t, g.tn.path("n1"), 0, 10*time.Second)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := waitGuard(t, g.tn.path("n1"), first, 10*time.Second)
	for start := time.Now(); gaps.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("OnGap not called after the guard was started again")
		}
	}
	t.Logf("guard %d killed; guard %d started", first, second)
	g.keeps("node running with its new guard", 2*lease) // a killed guard drops nothing, and the new one has its heartbeat
	if pids := guardPids(g.tn.path("n1")); len(pids) != 1 || pids[0] != second {
		t.Errorf("guards running: %v, want just %d", pids, second)
	}

	gd.Close()
	if on := g.on(g.h1); on[gVIP1] || on[gVIP2] {
		t.Errorf("after Close n1 still has a VIP: %v", on)
	}
	g.untouched()
}

// A guard that exits as it starts (here: no such interface) is started
// again about once a second, not in a loop (each start calls OnGap, which
// makes the agent fence itself and re-read the interface); Close returns
// at once meanwhile.
func TestGuardNotRestartedInALoop(t *testing.T) {
	g := newGuardNet(t)
	var gaps atomic.Int32
	gd, err := StartGuard(GuardConfig{Interface: "nosuch0", NetnsPath: g.tn.path("n1"), Addresses: gConfigured, Lease: 400 * time.Millisecond,
		OnGap: func() { gaps.Add(1) }, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	const watch = 2500 * time.Millisecond
	time.Sleep(watch)
	start := time.Now()
	gd.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %v", took)
	}
	n := gaps.Load()
	t.Logf("OnGap called %d times in %v", n, watch)
	// A restart calls OnGap, and so does the heartbeat after the second
	// it waited: at most two calls a second.
	if n < 1 || n > 6 {
		t.Errorf("OnGap called %d times in %v: the guard was started again more than about once a second", n, watch)
	}
	if on := g.on(g.h1); !on[gVIP1] || !on[gVIP2] {
		t.Errorf("a guard that could not start dropped a VIP: n1 has %v", on)
	}
	g.untouched()
}

// StartGuard refuses a binary that cannot run a guard and a missing lease.
func TestStartGuardRefuses(t *testing.T) {
	if _, err := StartGuard(GuardConfig{Interface: "eth0", Addresses: []string{gVIP1}}); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Errorf("no lease: %v, want an error", err)
	}
	defer guardSupported.Store(guardSupported.Load())
	guardSupported.Store(false)
	if GuardSupported() {
		t.Fatal("GuardSupported after it was turned off")
	}
	if _, err := StartGuard(GuardConfig{Interface: "eth0", Addresses: []string{gVIP1}, Lease: time.Second}); err == nil || !strings.Contains(err.Error(), "GuardMain") {
		t.Errorf("a binary without GuardMain: %v, want an error", err)
	}
}
