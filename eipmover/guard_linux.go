//go:build linux

package eipmover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// GuardConfig configures a Guard.
type GuardConfig struct {
	Interface string
	NetnsPath string
	Addresses []string // every configured VIP: the guard drops them all
	Lease     time.Duration
	// OnGap is called when the node may have been silent for long enough
	// that the guard dropped its VIPs (a heartbeat came about a lease
	// late, or the guard had to be started again): Agent.Recheck.
	OnGap  func()
	Logger *slog.Logger
}

// Guard is the node side of the VIP guard (see guard.go): it runs the
// guard process and writes its heartbeat, and starts it again if it dies.
type Guard struct {
	cfg  GuardConfig
	log  *slog.Logger
	stop chan struct{}
	done chan struct{}
}

// StartGuard starts the guard process (this binary run again, in its own
// session) and its heartbeat. It fails when the binary cannot run a guard
// (GuardSupported) or the process cannot be started.
func StartGuard(cfg GuardConfig) (*Guard, error) {
	if !GuardSupported() {
		return nil, errors.New("vip guard: this binary cannot run one (its main does not call eipmover.GuardMain)")
	}
	if cfg.Lease <= 0 {
		return nil, errors.New("vip guard: a lease is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	cmd, w, err := g.spawn()
	if err != nil {
		return nil, err
	}
	go g.run(cmd, w)
	return g, nil
}

func (g *Guard) spawn() (*exec.Cmd, *os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("vip guard: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("vip guard: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), guardEnv+"=1", guardIfEnv+"="+g.cfg.Interface, guardNetnsEnv+"="+g.cfg.NetnsPath,
		guardAddrsEnv+"="+strings.Join(g.cfg.Addresses, ","), guardLeaseEnv+"="+g.cfg.Lease.String())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stderr, os.Stderr
	// Its own session: a signal to the node's process group (kill -9 of
	// the group, SIGSTOP of the group) leaves the guard running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, nil, fmt.Errorf("vip guard: start: %w", err)
	}
	r.Close()
	g.log.Info("vip guard: started", "pid", cmd.Process.Pid, "addresses", g.cfg.Addresses, "lease", g.cfg.Lease)
	return cmd, w, nil
}

// run writes a heartbeat every lease/10 until Close, and starts the guard
// again if it exits.
func (g *Guard) run(cmd *exec.Cmd, w *os.File) {
	defer close(g.done)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	every := max(g.cfg.Lease/10, 5*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := time.Now()
	started := last // when the running guard was started
	beat := []byte{1}
	for {
		select {
		case <-g.stop:
			w.Close() // end of file: the guard drops the VIPs and exits
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				g.log.Warn("vip guard: did not exit")
			}
			return
		case <-exited:
			w.Close()
			g.log.Warn("vip guard: exited; starting it again", "state", cmd.ProcessState.String())
			// Not at once if it ran for less than a second: a guard
			// that exits as it starts (it cannot open the interface)
			// is not started again in a loop.
			wait := time.Second - time.Since(started)
			for {
				if wait > 0 {
					select {
					case <-g.stop:
						return
					case <-time.After(wait):
					}
				}
				var err error
				if cmd, w, err = g.spawn(); err == nil {
					break
				}
				g.log.Error("vip guard: cannot start", "err", err)
				wait = time.Second
			}
			started = time.Now()
			exited = make(chan struct{})
			go func(c *exec.Cmd, ch chan struct{}) { _ = c.Wait(); close(ch) }(cmd, exited)
			// The guard was gone for a while: an address it dropped on
			// the way out may have to be taken back.
			g.gap()
		case <-tick.C:
			// Not the tick's time: the first tick after a stop carries
			// the time it was due, before the stop, and the gap would
			// be seen only a heartbeat later.
			now := time.Now()
			if now.Sub(last) >= g.cfg.Lease-every {
				g.gap() // this process did not run for about the lease: the guard may have dropped the VIPs
			}
			last = now
			if _, err := w.Write(beat); err != nil {
				g.log.Debug("vip guard: heartbeat", "err", err) // the guard exited: handled above
			}
		}
	}
}

func (g *Guard) gap() {
	if g.cfg.OnGap != nil {
		g.cfg.OnGap()
	}
}

// Close stops the heartbeat; the guard drops the VIPs and exits.
func (g *Guard) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// runGuard is the guard process.
func runGuard(iface, netnsPath string, addrs []string, lease time.Duration) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("vip_guard", os.Getpid())
	v, err := NewVIP(VIPConfig{Interface: iface, NetnsPath: netnsPath, GARPCount: 1, Logger: log})
	if err != nil {
		log.Error("vip guard: cannot open the interface", "err", err)
		return 1
	}
	defer v.Close()
	drop := func(why string) {
		for _, a := range addrs {
			e := EIP{ID: "guard-" + a, Address: a}
			on, err := v.Holding(context.Background(), e)
			if err == nil && !on {
				continue
			}
			if err := v.Release(context.Background(), e); err != nil {
				log.Error("vip guard: cannot drop the address", "address", a, "err", err)
				continue
			}
			log.Warn("vip guard: dropped address: "+why, "address", a)
		}
	}
	beats := make(chan struct{}, 1)
	eof := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				select {
				case beats <- struct{}{}:
				default:
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					log.Warn("vip guard: reading the heartbeat", "err", err)
				}
				close(eof)
				return
			}
		}
	}()
	timer := time.NewTimer(lease)
	defer timer.Stop()
	silent := false
	for {
		select {
		case <-eof:
			drop("the node process is gone")
			return 0
		case <-beats:
			silent = false
			timer.Reset(lease)
		case <-timer.C:
			if !silent {
				drop(fmt.Sprintf("no heartbeat from the node for %v", lease))
				silent = true
			}
		}
	}
}
