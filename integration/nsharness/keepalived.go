//go:build linux

package nsharness

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The anchor haraft replaces: two load balancers, each HAProxy (cookie
// JSESSIONID prefix, as in the classic recipe) watched by keepalived
// (Debian's), VRRP over unicast peers, advert_int 1, a vrrp_script on the
// HAProxy process, one virtual IP.

// KeepalivedPair is the anchor, running in two namespaces of an Env.
type KeepalivedPair struct {
	Env *Env
	VIP netip.Addr
	LBs [2]*LB
}

// LB is one HAProxy + keepalived host of the anchor.
type LB struct {
	*Host
	Pair     *KeepalivedPair
	Priority int
	haproxy  *Proc
	kad      *Proc
	dir      string
}

// AnchorVIP is the anchor's virtual IP.
var AnchorVIP = netip.MustParseAddr("198.18.0.250")

// CheckKeepalived tells whether keepalived and haproxy are installed.
func CheckKeepalived() error {
	var missing []string
	for _, bin := range []string{"keepalived", "haproxy"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the keepalived anchor needs %s (apt-get install keepalived haproxy)", strings.Join(missing, ", "))
	}
	return nil
}

// NewKeepalivedPair makes two LB hosts (k1 priority 150, k2 priority 100)
// balancing over backends and starts HAProxy and keepalived on both.
func NewKeepalivedPair(e *Env, backends []*Backend) (*KeepalivedPair, error) {
	if err := CheckKeepalived(); err != nil {
		return nil, err
	}
	p := &KeepalivedPair{Env: e, VIP: AnchorVIP}
	for i, prio := range []int{150, 100} {
		h, err := e.AddHost(fmt.Sprintf("k%d", i+1), "")
		if err != nil {
			return nil, err
		}
		lb := &LB{Host: h, Pair: p, Priority: prio, dir: filepath.Join(e.Dir, h.Name)}
		if err := os.MkdirAll(lb.dir, 0o755); err != nil {
			return nil, err
		}
		p.LBs[i] = lb
	}
	for i, lb := range p.LBs {
		peer := p.LBs[1-i]
		if err := lb.writeConfigs(peer, backends); err != nil {
			return nil, err
		}
	}
	for _, lb := range p.LBs {
		if err := lb.StartHAProxy(); err != nil {
			return nil, err
		}
		if err := lb.StartKeepalived(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (lb *LB) path(name string) string { return filepath.Join(lb.dir, name) }

func (lb *LB) writeConfigs(peer *LB, backends []*Backend) error {
	var hc strings.Builder
	hc.WriteString("global\n    maxconn 4096\n\ndefaults\n    mode http\n    timeout connect 500ms\n    timeout client 10s\n    timeout server 5s\n    option redispatch\n    retries 1\n\n")
	fmt.Fprintf(&hc, "frontend web\n    bind 0.0.0.0:%d\n    default_backend app\n\n", ProxyPort)
	hc.WriteString("backend app\n    balance roundrobin\n    cookie JSESSIONID prefix nocache\n")
	for _, b := range backends {
		fmt.Fprintf(&hc, "    server %s %s:%d cookie %s check inter 300ms fall 2 rise 2\n", b.Name, b.IP, AppPort, b.Name)
	}
	if err := os.WriteFile(lb.path("haproxy.cfg"), []byte(hc.String()), 0o644); err != nil {
		return err
	}
	// keepalived runs scripts only if they and their directories are not
	// writable by others; everything here is root's with 0755/0644.
	check := "#!/bin/sh\nexec kill -0 \"$(cat " + lb.path("haproxy.pid") + ")\"\n"
	if err := os.WriteFile(lb.path("check.sh"), []byte(check), 0o755); err != nil {
		return err
	}
	notify := "#!/bin/sh\necho \"$(date +%s.%N) $3\" >> " + lb.path("notify.log") + "\n"
	if err := os.WriteFile(lb.path("notify.sh"), []byte(notify), 0o755); err != nil {
		return err
	}
	kc := fmt.Sprintf(`global_defs {
    router_id %[1]s
    script_user root
    enable_script_security
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 3
}

vrrp_script chk_haproxy {
    script "%[2]s"
    interval 1
    fall 2
    rise 2
}

vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %[3]d
    advert_int 1
    unicast_src_ip %[4]s
    unicast_peer {
        %[5]s
    }
    virtual_ipaddress {
        %[6]s/%[7]d dev eth0
    }
    track_script {
        chk_haproxy
    }
    notify "%[8]s"
}
`, lb.Name, lb.path("check.sh"), lb.Priority, lb.IP, peer.IP, lb.Pair.VIP, Subnet.Bits(), lb.path("notify.sh"))
	return os.WriteFile(lb.path("keepalived.conf"), []byte(kc), 0o644)
}

// StartHAProxy (re)starts the LB's HAProxy (in the foreground; its PID,
// which ip netns exec keeps, goes to haproxy.pid for the vrrp_script).
func (lb *LB) StartHAProxy() error {
	p, err := lb.Host.Start("haproxy", nil, "haproxy", "-db", "-f", lb.path("haproxy.cfg"))
	if err != nil {
		return err
	}
	lb.haproxy = p
	if err := os.WriteFile(lb.path("haproxy.pid"), []byte(strconv.Itoa(p.PID())+"\n"), 0o644); err != nil {
		return err
	}
	// Ready once it accepts on its frontend.
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		c, err := lb.DialContext(ctx, "tcp", fmt.Sprintf("%s:%d", lb.IP, ProxyPort))
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: haproxy did not start: %s", lb.Name, p.Log(500))
}

// StartKeepalived (re)starts the LB's keepalived (VRRP only, foreground).
func (lb *LB) StartKeepalived() error {
	p, err := lb.Host.Start("keepalived", nil, "keepalived", "-n", "-l", "-G", "-P", "-f", lb.path("keepalived.conf"),
		"-p", lb.path("keepalived.pid"), "-r", lb.path("vrrp.pid"))
	if err != nil {
		return err
	}
	lb.kad = p
	return nil
}

// HAProxy and Keepalived return the current processes.
func (lb *LB) HAProxy() *Proc    { return lb.haproxy }
func (lb *LB) Keepalived() *Proc { return lb.kad }

// HoldsVIP reports whether the VIP is on the LB's interface.
func (lb *LB) HoldsVIP() bool {
	out, err := exec.Command("ip", "-n", lb.NS, "-o", "-4", "addr", "show", "dev", "eth0").Output()
	return err == nil && strings.Contains(string(out), " "+lb.Pair.VIP.String()+"/")
}

// Transitions returns the VRRP states keepalived notified, in order.
func (lb *LB) Transitions() []Transition {
	f, err := os.Open(lb.path("notify.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []Transition
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			continue
		}
		sec, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			continue
		}
		out = append(out, Transition{At: time.Unix(0, int64(sec*1e9)), State: fs[1]})
	}
	return out
}

// Transition is one VRRP state change keepalived notified.
type Transition struct {
	At    time.Time
	State string // MASTER, BACKUP, FAULT, STOP
}

// State returns the LB's latest notified VRRP state ("" before any).
func (lb *LB) State() string {
	t := lb.Transitions()
	if len(t) == 0 {
		return ""
	}
	return t[len(t)-1].State
}

// WaitMaster waits until lb is MASTER, holds the VIP, and the other LB
// does not.
func (p *KeepalivedPair) WaitMaster(ctx context.Context, lb *LB) error {
	other := p.LBs[0]
	if other == lb {
		other = p.LBs[1]
	}
	for {
		if lb.State() == "MASTER" && lb.HoldsVIP() && !other.HoldsVIP() && other.State() != "MASTER" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not sole MASTER: %v (states %s=%q %s=%q)", lb.Name, ctx.Err(), lb.Name, lb.State(), other.Name, other.State())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
