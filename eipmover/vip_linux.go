//go:build linux

package eipmover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// VIPConfig configures the Linux VIP mover.
type VIPConfig struct {
	// Interface is the link the addresses go on (e.g. eth0). Required.
	Interface string
	// NetnsPath, when set, is the network namespace to act in (e.g.
	// /var/run/netns/blue); default the process's own.
	NetnsPath string
	// GARPCount is how many gratuitous ARPs announce a new address
	// (default 3), GARPInterval the gap between them (default 1s).
	GARPCount    int
	GARPInterval time.Duration
	Logger       *slog.Logger
}

// VIP adds and removes addresses on a Linux interface over netlink (as a
// /32 or /128) and announces a new IPv4 address with gratuitous ARP, as
// keepalived does. It is a LocalMover: each node moves only its own.
type VIP struct {
	cfg    VIPConfig
	log    *slog.Logger
	ns     netns.NsHandle // closed handle: the process's namespace
	handle *netlink.Handle

	mu     sync.Mutex
	garps  map[string]context.CancelFunc
	closed bool
	wg     sync.WaitGroup
}

var _ LocalMover = (*VIP)(nil)

// NewVIP opens a netlink handle (in the namespace, if given) and checks
// that the interface exists.
func NewVIP(cfg VIPConfig) (*VIP, error) {
	if cfg.Interface == "" {
		return nil, errors.New("vip mover: interface is required")
	}
	if cfg.GARPCount <= 0 {
		cfg.GARPCount = 3
	}
	if cfg.GARPInterval <= 0 {
		cfg.GARPInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := &VIP{cfg: cfg, log: cfg.Logger, ns: netns.None(), garps: map[string]context.CancelFunc{}}
	var err error
	if cfg.NetnsPath != "" {
		if v.ns, err = netns.GetFromPath(cfg.NetnsPath); err != nil {
			return nil, fmt.Errorf("vip mover: netns %s: %w", cfg.NetnsPath, err)
		}
		v.handle, err = netlink.NewHandleAt(v.ns)
	} else {
		v.handle, err = netlink.NewHandle()
	}
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("vip mover: netlink: %w", err)
	}
	if _, err := v.handle.LinkByName(cfg.Interface); err != nil {
		v.Close()
		return nil, fmt.Errorf("vip mover: interface %s: %w", cfg.Interface, err)
	}
	return v, nil
}

// Close stops pending announcements and closes the handles. It does not
// remove addresses (the Agent releases them first).
func (v *VIP) Close() {
	v.mu.Lock()
	v.closed = true
	for id, cancel := range v.garps {
		cancel()
		delete(v.garps, id)
	}
	v.mu.Unlock()
	v.wg.Wait()
	if v.handle != nil {
		v.handle.Close()
	}
	if v.ns.IsOpen() {
		v.ns.Close()
	}
}

func (v *VIP) addr(e EIP) (*netlink.Addr, netip.Addr, error) {
	ip, err := netip.ParseAddr(e.Address)
	if err != nil {
		return nil, ip, fmt.Errorf("vip %s: address %q: %w", e.ID, e.Address, err)
	}
	ip = ip.Unmap()
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())}}, ip, nil
}

// Hold adds the address to the interface (already there is fine) and
// announces it with gratuitous ARP: one at once, the rest in the
// background.
func (v *VIP) Hold(ctx context.Context, e EIP) error {
	a, ip, err := v.addr(e)
	if err != nil {
		return err
	}
	link, err := v.handle.LinkByName(v.cfg.Interface)
	if err != nil {
		return fmt.Errorf("vip %s: interface %s: %w", e.ID, v.cfg.Interface, err)
	}
	if err := v.handle.AddrAdd(link, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("vip %s: add %s to %s: %w", e.ID, a.IPNet, v.cfg.Interface, err)
	}
	if !ip.Is4() {
		return nil // IPv6: the kernel's unsolicited neighbour advertisement (DAD) announces it
	}
	if err := v.garp(ip); err != nil {
		v.log.Warn("vip: gratuitous ARP failed", "eip", e.ID, "address", ip, "err", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if cancel, ok := v.garps[e.ID]; ok {
		cancel()
	}
	if v.closed || v.cfg.GARPCount < 2 {
		return nil
	}
	gctx, cancel := context.WithCancel(context.Background())
	v.garps[e.ID] = cancel
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for i := 1; i < v.cfg.GARPCount; i++ {
			select {
			case <-gctx.Done():
				return
			case <-time.After(v.cfg.GARPInterval):
			}
			if err := v.garp(ip); err != nil {
				v.log.Warn("vip: gratuitous ARP failed", "eip", e.ID, "address", ip, "err", err)
			}
		}
	}()
	return nil
}

// Release removes the address from the interface (already gone is fine)
// and stops its announcements.
func (v *VIP) Release(_ context.Context, e EIP) error {
	v.mu.Lock()
	if cancel, ok := v.garps[e.ID]; ok {
		cancel()
		delete(v.garps, e.ID)
	}
	v.mu.Unlock()
	a, _, err := v.addr(e)
	if err != nil {
		return err
	}
	link, err := v.handle.LinkByName(v.cfg.Interface)
	if err != nil {
		return fmt.Errorf("vip %s: interface %s: %w", e.ID, v.cfg.Interface, err)
	}
	if err := v.handle.AddrDel(link, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("vip %s: remove %s from %s: %w", e.ID, a.IPNet, v.cfg.Interface, err)
	}
	return nil
}

// Holding reports whether the address is on the interface.
func (v *VIP) Holding(_ context.Context, e EIP) (bool, error) {
	_, ip, err := v.addr(e)
	if err != nil {
		return false, err
	}
	link, err := v.handle.LinkByName(v.cfg.Interface)
	if err != nil {
		return false, fmt.Errorf("vip %s: interface %s: %w", e.ID, v.cfg.Interface, err)
	}
	family := netlink.FAMILY_V4
	if !ip.Is4() {
		family = netlink.FAMILY_V6
	}
	addrs, err := v.handle.AddrList(link, family)
	if err != nil {
		return false, fmt.Errorf("vip %s: list addresses of %s: %w", e.ID, v.cfg.Interface, err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
			return true, nil
		}
	}
	return false, nil
}

// garp broadcasts one gratuitous ARP request for ip (sender and target
// address both ip), which makes neighbours update their cache at once,
// even within their locktime.
func (v *VIP) garp(ip netip.Addr) error {
	return v.inNetns(func() error {
		ifi, err := net.InterfaceByName(v.cfg.Interface)
		if err != nil {
			return err
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer c.Close()
		p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, ip, net.HardwareAddr{0, 0, 0, 0, 0, 0}, ip)
		if err != nil {
			return err
		}
		return c.WriteTo(p, ethernet.Broadcast)
	})
}

// inNetns runs fn on a thread switched into the mover's namespace (the
// raw ARP socket and the interface lookup must be made there).
func (v *VIP) inNetns(fn func() error) error {
	if !v.ns.IsOpen() {
		return fn()
	}
	return runInNetns(v.ns, fn)
}

// runInNetns runs fn on an OS thread switched into ns. Sockets fn creates
// stay in ns. If the thread cannot be switched back it is left locked, so
// the runtime retires it rather than run other goroutines in ns.
func runInNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("netns: restore: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
