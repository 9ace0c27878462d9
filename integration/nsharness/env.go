//go:build linux

// Package nsharness runs real haraft processes in Linux network namespaces
// on one machine: one namespace per node (with its AZ label), namespaces for
// the backends and for clients, all joined by a bridge that lives in a
// namespace of its own, so nothing is added to the machine's own network.
// Addresses come only from 198.18.0.0/15 (RFC 2544, never routed).
//
// Every namespace an Env makes is named with its prefix, "hrt" plus a short
// random suffix, and Close removes them all, also after a failure; New first
// sweeps what a crashed earlier run left behind (namespaces whose owner
// process is gone).
//
// Faults: Proc.Kill (kill -9), Proc.Stop/Cont (SIGSTOP/SIGCONT), Host.LinkDown
// and LinkUp, Host.Netem (tc netem delay and loss, where the kernel has
// sch_netem), Host.Loss (random loss with iptables' statistic match, which
// works without netem) and Env.Partition (iptables drops between chosen
// namespaces).
//
// The test process itself is the client: Host.HTTPClient dials from inside a
// namespace (sockets are created on an OS thread that entered it), so every
// request crosses the bridge like a real client's. Cluster.ClientSources
// gives the client namespace many more addresses (routed from every other
// namespace) and Host.DialTCPFrom dials from one of them, so one process
// can be hundreds of clients as stick on src sees them.
//
// Everything here needs root, ip and tc (iproute2) and iptables; Check tells
// what is missing so tests can skip with a clear message.
package nsharness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace this package makes.
const Prefix = "hrt"

// Subnet is the one L2 network of an Env. Every Env has its own bridge
// namespace, so two Envs may use the same addresses without seeing each other.
var Subnet = netip.MustParsePrefix("198.18.0.0/24")

// benchmarkNet is RFC 2544's whole range: every address a test adds lies
// in it.
var benchmarkNet = netip.MustParsePrefix("198.18.0.0/15")

// ours matches the namespace names this package makes: Prefix, five hex
// digits, a dash, a host name.
var ours = regexp.MustCompile("^" + Prefix + "[0-9a-f]{5}-")

// ownerDir records, for each live Env, the PID of the process that owns it,
// so a sweep removes only what dead processes left.
const ownerDir = "/run/haraft-nsharness"

// Check returns nil when this machine can run namespace tests, else an error
// naming what is missing (not root, no ip, tc or iptables, no netns support).
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network-namespace tests need root (run as root, e.g. in CI)")
	}
	var missing []string
	for _, bin := range []string{"ip", "tc", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("network-namespace tests need %s (apt-get install iproute2 iptables)", strings.Join(missing, ", "))
	}
	return nil
}

// Env is one run's set of namespaces, bridged together.
type Env struct {
	Prefix string // e.g. "hrt3f9a1"
	Dir    string // work dir: configs, data dirs, logs (removed by Close unless KeepDir)
	Logf   func(format string, args ...any)

	bridgeNS string
	mu       sync.Mutex
	hosts    []*Host
	procs    []*Proc
	nextIP   int
	closed   bool
	keepDir  bool
}

// Options configure New.
type Options struct {
	// Dir is the work dir; default a new temporary directory.
	Dir string
	// KeepDir keeps Dir (logs, data dirs) after Close.
	KeepDir bool
	// Logf receives the harness's log lines; default discards them.
	Logf func(format string, args ...any)
}

// New sweeps leftovers of dead runs, then makes a bridge namespace for a new
// Env. Call Close when done (t.Cleanup).
func New(o Options) (*Env, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	Sweep(o.Logf)
	var b [3]byte
	_, _ = rand.Read(b[:])
	e := &Env{Prefix: Prefix + hex.EncodeToString(b[:])[:5], Logf: o.Logf, nextIP: 10, keepDir: o.KeepDir}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", e.Prefix+"-")
		if err != nil {
			return nil, err
		}
		o.Dir = d
	}
	e.Dir = o.Dir
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ownerDir, e.Prefix), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	e.bridgeNS = e.Prefix + "-br"
	if err := e.addNS(e.bridgeNS); err != nil {
		e.Close()
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", e.bridgeNS, "link", "add", "br0", "type", "bridge"},
		// No STP, no forwarding delay: ports forward at once.
		{"-n", e.bridgeNS, "link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"},
		{"-n", e.bridgeNS, "link", "set", "br0", "up"},
		{"-n", e.bridgeNS, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) addNS(name string) error {
	if err := ip("netns", "add", name); err != nil {
		return err
	}
	return nil
}

// Host is one network namespace with one interface (eth0) on the bridge.
type Host struct {
	Env  *Env
	Name string     // short name: "n1", "A", "client"
	NS   string     // namespace name: Env.Prefix + "-" + Name
	IP   netip.Addr // address on eth0, in Subnet
	AZ   string     // availability-zone label (nodes)

	port   string // the bridge-side veth, in the bridge namespace
	dialMu sync.Mutex
	dialer *nsDialer
}

// AddHost makes a namespace named after name, wires it to the bridge and
// gives it the next free address of Subnet.
func (e *Env) AddHost(name, az string) (*Host, error) {
	e.mu.Lock()
	e.nextIP++
	n := e.nextIP
	e.mu.Unlock()
	a := Subnet.Addr().As4()
	a[3] = byte(n)
	return e.AddHostIP(name, az, netip.AddrFrom4(a))
}

// AddHostIP is AddHost with a chosen address (inside Subnet).
func (e *Env) AddHostIP(name, az string, addr netip.Addr) (*Host, error) {
	if !Subnet.Contains(addr) {
		return nil, fmt.Errorf("nsharness: %s is outside %s", addr, Subnet)
	}
	h := &Host{Env: e, Name: name, NS: e.Prefix + "-" + name, IP: addr, AZ: az, port: "p-" + name}
	if len(h.port) > 15 {
		return nil, fmt.Errorf("nsharness: host name %q too long", name)
	}
	if err := e.addNS(h.NS); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.hosts = append(e.hosts, h)
	e.mu.Unlock()
	bits := strconv.Itoa(Subnet.Bits())
	for _, args := range [][]string{
		{"-n", e.bridgeNS, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", e.bridgeNS, "link", "set", h.port, "master", "br0"},
		{"-n", e.bridgeNS, "link", "set", h.port, "up"},
		{"-n", h.NS, "addr", "add", addr.String() + "/" + bits, "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Hosts returns every host made so far.
func (e *Env) Hosts() []*Host {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Host(nil), e.hosts...)
}

// Close stops every process started in the Env (SIGKILL), removes every
// namespace and the work dir (unless KeepDir). It is safe to call twice.
func (e *Env) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	procs := e.procs
	hosts := e.hosts
	e.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, p := range procs {
		p.waitTimeout(5 * time.Second)
	}
	for _, h := range hosts {
		h.closeDialer()
	}
	var errs []error
	for _, ns := range e.namespaces() {
		killNS(ns)
		if err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(filepath.Join(ownerDir, e.Prefix))
	if !e.keepDir && e.Dir != "" {
		_ = os.RemoveAll(e.Dir)
	}
	return errors.Join(errs...)
}

// namespaces lists the existing namespaces carrying this Env's prefix.
func (e *Env) namespaces() []string {
	var out []string
	for _, ns := range listNS() {
		if strings.HasPrefix(ns, e.Prefix+"-") {
			out = append(out, ns)
		}
	}
	return out
}

// Sweep removes namespaces named with Prefix whose owning process is gone
// (or that have no owner record), killing what still runs in them.
func Sweep(logf func(string, ...any)) {
	owners := map[string]bool{} // prefix -> owner alive
	entries, _ := os.ReadDir(ownerDir)
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(ownerDir, en.Name()))
		alive := false
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				alive = syscall.Kill(pid, 0) == nil
			}
		}
		owners[en.Name()] = alive
		if !alive {
			_ = os.Remove(filepath.Join(ownerDir, en.Name()))
		}
	}
	for _, ns := range listNS() {
		if !ours.MatchString(ns) {
			continue // not made by this package (other tests use other hrt- names)
		}
		prefix, _, _ := strings.Cut(ns, "-")
		if owners[prefix] {
			continue
		}
		logf("nsharness: sweeping leftover namespace %s", ns)
		killNS(ns)
		_ = ip("netns", "del", ns)
	}
}

func listNS() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// killNS SIGKILLs every process inside namespace ns.
func killNS(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func ip(args ...string) error {
	return run("ip", args...)
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Run runs a short command inside the host's namespace and returns its
// combined output.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s in %s: %v: %s", strings.Join(argv, " "), h.Name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func (h *Host) run(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.Run(ctx, argv...)
	return err
}

// AddAddrs adds addrs to the host's eth0 as /32s, in one ip -batch: extra
// source addresses for its sockets (Host.DialTCPFrom). They must lie in
// 198.18.0.0/15 and outside Subnet; other hosts reach them through a
// route (AddRoute) via the host's own address.
func (h *Host) AddAddrs(addrs []netip.Addr) error {
	var batch strings.Builder
	for _, a := range addrs {
		if !benchmarkNet.Contains(a) || Subnet.Contains(a) {
			return fmt.Errorf("nsharness: %s is outside %s or inside %s", a, benchmarkNet, Subnet)
		}
		fmt.Fprintf(&batch, "addr add %s/32 dev eth0\n", a)
	}
	cmd := exec.Command("ip", "-n", h.NS, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch (%d addresses): %v: %s", h.NS, len(addrs), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// AddRoute routes dst from the host's namespace via gateway via (a
// neighbour on the bridge), so one neighbour entry serves the whole prefix.
func (h *Host) AddRoute(dst netip.Prefix, via netip.Addr) error {
	return ip("-n", h.NS, "route", "add", dst.String(), "via", via.String(), "dev", "eth0")
}

// LinkDown takes the host's interface down (both ends, so the bridge drops
// its frames too): the host vanishes from the network at once.
func (h *Host) LinkDown() error {
	if err := ip("-n", h.Env.bridgeNS, "link", "set", h.port, "down"); err != nil {
		return err
	}
	return ip("-n", h.NS, "link", "set", "eth0", "down")
}

// LinkUp undoes LinkDown.
func (h *Host) LinkUp() error {
	if err := ip("-n", h.Env.bridgeNS, "link", "set", h.port, "up"); err != nil {
		return err
	}
	return ip("-n", h.NS, "link", "set", "eth0", "up")
}

// ErrNoNetem is returned by Netem when the kernel has no sch_netem.
var ErrNoNetem = errors.New("tc netem is not available in this kernel (CONFIG_NET_SCH_NETEM)")

// Netem adds delay and random loss (percent) to everything the host sends,
// with tc netem. It returns ErrNoNetem (wrapped) where the kernel lacks it.
func (h *Host) Netem(delay time.Duration, lossPct float64) error {
	args := []string{"qdisc", "replace", "dev", "eth0", "root", "netem"}
	if delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dus", delay.Microseconds()))
	}
	if lossPct > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", lossPct))
	}
	err := h.run(append([]string{"tc"}, args...)...)
	if err != nil && strings.Contains(err.Error(), "kind is unknown") {
		return fmt.Errorf("%w: %v", ErrNoNetem, err)
	}
	return err
}

// ClearNetem removes what Netem added.
func (h *Host) ClearNetem() error {
	return h.run("tc", "qdisc", "del", "dev", "eth0", "root")
}

// Loss drops the given percentage of the packets the host receives and
// sends, at random, with iptables' statistic match (works without netem).
func (h *Host) Loss(pct float64) error {
	p := fmt.Sprintf("%.4f", pct/100)
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := h.run("iptables", "-w", "-I", chain, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP", "-m", "comment", "--comment", "hrt-loss"); err != nil {
			return err
		}
	}
	return nil
}

// ClearLoss removes what Loss added.
func (h *Host) ClearLoss() error {
	var errs []error
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		out, _ := h.Run(context.Background(), "iptables", "-w", "-S", chain)
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, "hrt-loss") {
				continue
			}
			rule := strings.Fields(strings.Replace(line, "-A", "-D", 1))
			// Unquote the comment iptables -S prints in quotes.
			for i := range rule {
				rule[i] = strings.Trim(rule[i], `"`)
			}
			if err := h.run(append([]string{"iptables", "-w"}, rule...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Partition drops every packet between each host of a and each host of b,
// both directions, with iptables rules in the namespaces of a only (INPUT
// from and OUTPUT to each host of b), loaded with one iptables-restore per
// host so the partition starts at once. Hosts in neither group, and hosts
// within a group, still reach everyone. The returned heal undoes exactly
// this partition.
func (e *Env) Partition(a, b []*Host) (heal func() error, err error) {
	rules := func(op string) string {
		var r strings.Builder
		r.WriteString("*filter\n")
		for _, y := range b {
			fmt.Fprintf(&r, "%s INPUT -s %s/32 -j DROP\n%s OUTPUT -d %s/32 -j DROP\n", op, y.IP, op, y.IP)
		}
		r.WriteString("COMMIT\n")
		return r.String()
	}
	apply := func(h *Host, text string) error {
		cmd := exec.Command("ip", "netns", "exec", h.NS, "iptables-restore", "-w", "--noflush")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("iptables-restore in %s: %v: %s", h.Name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	var done []*Host
	heal = func() error {
		var errs []error
		for _, h := range done {
			if err := apply(h, rules("-D")); err != nil {
				errs = append(errs, err)
			}
		}
		done = nil
		return errors.Join(errs...)
	}
	for _, h := range a {
		if err := apply(h, rules("-I")); err != nil {
			heal()
			return nil, err
		}
		done = append(done, h)
	}
	return heal, nil
}
