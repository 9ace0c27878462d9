package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/haraft/haraft/cmd/haraftd/admin"
	"github.com/haraft/haraft/cmd/haraftd/certs"
	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proto/adminpb"
)

// adminParts is the admin side of a daemon: the gRPC admin server and its
// listener.
type adminParts struct {
	srv  *admin.Server
	ln   net.Listener
	done chan struct{}
}

// readSecret returns the first line of a token file.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%s: empty token file", path)
	}
	line = strings.TrimSpace(line)
	if len(line) < config.MinSecretLen {
		return "", fmt.Errorf("%s: token too short (%d characters): use at least %d", path, len(line), config.MinSecretLen)
	}
	return line, nil
}

// adminOptions builds the admin server's options from the config.
func (d *Daemon) adminOptions() (admin.Options, error) {
	a := d.cfg.Admin
	o := admin.Options{
		NodeID: d.cfg.Node.ID, AZ: d.cfg.Node.AZ, Node: d.node, FSM: d.fsm, Logger: d.log,
		Ready: d.isServing,
		Frontends: func() []*adminpb.Frontend {
			fronts := d.live().frontends
			out := make([]*adminpb.Frontend, len(fronts))
			for i, lf := range fronts {
				f, fc := lf.f, lf.fc
				st := f.Stats()
				out[i] = &adminpb.Frontend{Name: fc.Name, Bind: f.Addr().String(), Backend: fc.Backend, Requests: st.Requests, Errors: st.Errors,
					Redispatches: st.Redispatches, Learned: st.Learned, LearnDropped: st.LearnDropped}
			}
			return out
		},
		Learner: func() *adminpb.LearnerStats {
			s := d.learner.Stats()
			return &adminpb.LearnerStats{Queued: s.Queued, Dropped: s.Dropped, Proposed: s.Proposed, Committed: s.Committed,
				Conflicts: s.Conflicts, Failed: s.Failed, Batches: s.Batches}
		},
	}
	if d.liveness != nil {
		o.Liveness = d.liveness.Peers
	}
	if d.dns != nil {
		o.DNS, o.BeforeRemove = d.dnsResponse, d.dnsBeforeRemove
	}
	o.Counters = func(backend, server string) (admin.ServerCounters, bool) {
		b := d.live().backends[backend]
		if b == nil {
			return admin.ServerCounters{}, false
		}
		s := b.ServerFor(d.fsm.Servers(), server) // also one added at run time
		if s == nil {
			return admin.ServerCounters{}, false
		}
		st := s.Stats()
		return admin.ServerCounters{Requests: st.Requests, Failures: st.Failures, Active: st.Active, Queued: st.Queued}, true
	}
	o.Backends = adminBackends(d.cfg)
	o.CurrentBackends = func() []admin.BackendConfig { return adminBackends(d.live().cfg) }
	if f := d.cfg.File; f != "" && !strings.HasPrefix(f, "<") {
		o.Reload = d.ReloadFile
	}
	o.ReopenLogs = func(context.Context) (admin.LogReopen, error) {
		err := d.ReopenLogs()
		st, on := d.AccessLogStats()
		if !on {
			return admin.LogReopen{}, err
		}
		return admin.LogReopen{Target: d.accessLog.Target().String(), Reopens: st.Reopens}, err
	}
	for i, t := range a.Tokens {
		secret := t.Secret
		if t.SecretFile != "" {
			var err error
			if secret, err = readSecret(t.SecretFile); err != nil {
				return o, fmt.Errorf("%s: admin.tokens[%d].secret_file: %w", d.cfg.File, i, err)
			}
		}
		o.Tokens = append(o.Tokens, admin.Token{Name: t.Name, Secret: secret, Write: t.Role == config.RoleWrite})
	}
	o.Insecure = a.Insecure
	secret, err := loadMaskSecret(d.cfg.Node.DataDir)
	if err != nil {
		return o, err
	}
	o.MaskSecret = secret
	if t := a.TLS; t != nil {
		var err error
		if o.TLS, err = certs.AdminServer(certs.Files{CA: t.CAFile, Cert: t.CertFile, Key: t.KeyFile}); err != nil {
			return o, fmt.Errorf("admin.tls: %w", err)
		}
	}
	return o, nil
}

// startAdmin builds the admin server — the status page, /metrics and the
// event history use it even without a listener — and serves the admin API
// on admin.addr when that is set.
func (d *Daemon) startAdmin() error {
	o, err := d.adminOptions()
	if err != nil {
		return err
	}
	srv, err := admin.New(o)
	if err != nil {
		return err
	}
	d.admin = &adminParts{srv: srv}
	if d.cfg.Admin.Addr == "" {
		d.log.Info("no admin.addr: the admin API is off")
		return nil
	}
	if len(o.Tokens) == 0 {
		d.log.Warn("admin API without tokens: reads are open to whoever reaches admin.addr, writes are refused")
	}
	ln, err := net.Listen("tcp", d.cfg.Admin.Addr)
	if err != nil {
		return fmt.Errorf("admin.addr %s: %w", d.cfg.Admin.Addr, err)
	}
	if err := srv.CheckListener(ln); err != nil {
		ln.Close()
		return fmt.Errorf("admin.addr %s: %w", d.cfg.Admin.Addr, err)
	}
	d.admin.ln, d.admin.done = ln, make(chan struct{})
	go func() {
		defer close(d.admin.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			d.log.Error("admin listener stopped", "err", err)
		}
	}()
	d.log.Info("admin API listening", "addr", ln.Addr().String(), "tls", o.TLS != nil, "tokens", len(o.Tokens))
	return nil
}

// stopAdmin stops the admin API (ending Watch streams) before Raft stops.
func (d *Daemon) stopAdmin() {
	if d.admin == nil {
		return
	}
	d.admin.srv.Stop()
	if d.admin.done != nil {
		<-d.admin.done
	}
}

// AdminAddr returns the admin listener's address, "" when there is none.
func (d *Daemon) AdminAddr() string {
	if d.admin == nil || d.admin.ln == nil {
		return ""
	}
	return d.admin.ln.Addr().String()
}

// Admin returns the admin server, nil when there is none.
func (d *Daemon) Admin() *admin.Server {
	if d.admin == nil {
		return nil
	}
	return d.admin.srv
}

func (d *Daemon) isServing() bool {
	select {
	case <-d.serving:
		return true
	default:
		return false
	}
}

// adminBackends lists cfg's backends for the admin server.
func adminBackends(cfg *config.Config) []admin.BackendConfig {
	var out []admin.BackendConfig
	for _, b := range cfg.Backends {
		bc := admin.BackendConfig{Name: b.Name, DynamicCookies: b.Cookie != nil && b.Cookie.DynamicKey != ""}
		for _, s := range b.Servers {
			bc.Servers = append(bc.Servers, admin.ServerConfig{Name: s.Name, Addr: s.Addr, Cookie: s.Cookie, Weight: s.Weight})
		}
		out = append(out, bc)
	}
	return out
}
