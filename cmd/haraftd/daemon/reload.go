package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/haraft/haraft/cmd/haraftd/config"
	"github.com/haraft/haraft/proxy"
)

// Live reload (SIGHUP, haraftctl reload): the config file is read again
// and its frontends, backends and timeouts replace the running ones
// without dropping a connection.
//
//   - A backend whose section (or the timeouts) changed is built anew;
//     an unchanged one is kept with its pools and counters. Servers added
//     through the admin API live in the replicated server table, not in
//     the file, so every backend built from the file picks them up again.
//   - A frontend whose section, backend or timeouts changed is built anew
//     on the socket already listening at its bind (socket, listenmux.go):
//     new connections go to the new frontend from the moment it is
//     switched in; the old one stops taking connections, lets its
//     requests in flight finish and closes its idle keep-alive
//     connections at a request boundary. A connection keeps the config it
//     started with for its whole life.
//   - A new bind address is listened on before the old socket closes; a
//     bind that fails refuses the whole reload.
//   - Nothing is switched until everything new was built: a refused file
//     leaves the running config exactly as it was.
//
// Raft, the data dir, the EIP agent and the ops and admin listeners are
// not touched: a reload moves no address and keeps the node's membership.

// liveState is what a reload replaces, as one consistent snapshot.
type liveState struct {
	cfg       *config.Config
	backends  map[string]*proxy.Backend
	frontends []*liveFrontend // in config order
	sockets   map[string]*socket
	hash      string
}

type liveFrontend struct {
	fc     config.Frontend
	f      Frontend
	sock   *socket
	h      *handle
	served chan struct{} // closed when its Serve returned
}

func newLiveFrontend(fc config.Frontend, f Frontend, sock *socket, h *handle) *liveFrontend {
	return &liveFrontend{fc: fc, f: f, sock: sock, h: h, served: make(chan struct{})}
}

// serve runs the frontend's accept loop.
func (d *Daemon) serve(lf *liveFrontend) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(lf.served)
		if err := lf.f.Serve(); err != nil {
			d.log.Error("frontend stopped", "addr", lf.f.Addr(), "err", err)
		}
	}()
}

// live returns the running config's snapshot.
func (d *Daemon) live() *liveState {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.state
}

// ReloadStatus is what /status and the metrics say of the last reload.
type ReloadStatus struct {
	ConfigHash string    `json:"config_hash"`
	Reloads    uint64    `json:"reloads"`
	Failures   uint64    `json:"reload_failures"`
	Last       time.Time `json:"last_reload"` // zero: none since the start
	LastOK     bool      `json:"last_reload_ok"`
	LastError  string    `json:"last_reload_error,omitempty"`
}

type reloadStats struct {
	mu sync.Mutex
	ReloadStatus
}

// ReloadStatus returns the last reload's outcome and the running config's hash.
func (d *Daemon) ReloadStatus() ReloadStatus {
	d.reloads.mu.Lock()
	defer d.reloads.mu.Unlock()
	r := d.reloads.ReloadStatus
	r.ConfigHash = d.live().hash
	return r
}

// configHash identifies a config's content (not its comments or layout).
func configHash(c *config.Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ReloadFile reads the node's config file again and applies it (see
// Apply). The error, when it is refused, names the file, line and field.
func (d *Daemon) ReloadFile(ctx context.Context) (hash, summary string, err error) {
	file := d.cfg.File
	if file == "" || strings.HasPrefix(file, "<") {
		return "", "", errors.New("this node was not started from a config file")
	}
	next, err := config.Load(file)
	if err == nil {
		summary, err = d.Apply(ctx, next)
	}
	d.reloads.mu.Lock()
	d.reloads.Reloads++
	d.reloads.Last, d.reloads.LastOK, d.reloads.LastError = time.Now(), err == nil, ""
	if err != nil {
		d.reloads.Failures++
		d.reloads.LastError = err.Error()
	}
	d.reloads.mu.Unlock()
	if err != nil {
		d.log.Error("config reload refused; the running config stays", "file", file, "err", err)
		return "", "", err
	}
	hash = d.live().hash
	d.log.Info("config reloaded", "file", file, "config_hash", hash, "changes", summary)
	return hash, summary, nil
}

// Apply switches the node to next's frontends, backends and timeouts (see
// the comment at the top of this file). It refuses next, changing nothing,
// when next changes what needs a restart, when a server of the file has
// the name of one added through the admin API, or when something new
// cannot be built (a bind that fails, a certificate that does not load).
func (d *Daemon) Apply(ctx context.Context, next *config.Config) (string, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if err := next.Validate(); err != nil {
		return "", err
	}
	select {
	case <-d.serving:
	default:
		return "", errors.New("the node does not serve yet (readiness gate); reload once it does")
	}
	cur := d.live()
	if err := cur.cfg.ReloadErrors(next); err != nil {
		return "", err
	}
	if err := d.serverCollisions(cur.cfg, next); err != nil {
		return "", err
	}
	ns := &liveState{cfg: next, backends: map[string]*proxy.Backend{}, sockets: map[string]*socket{}, hash: configHash(next)}
	var changes []string
	ok := false
	var built []*liveFrontend
	var opened []*socket
	defer func() {
		if ok {
			return
		}
		for _, lf := range built {
			_ = lf.f.Shutdown(context.Background())
		}
		for _, s := range opened {
			_ = s.Close()
		}
		for name, b := range ns.backends {
			if cur.backends[name] != b {
				b.Close()
			}
		}
	}()
	timeoutsSame := reflect.DeepEqual(cur.cfg.Timeouts, next.Timeouts)
	for _, bc := range next.Backends {
		if old := backendConfig(cur.cfg, bc.Name); old.Name != "" && timeoutsSame && reflect.DeepEqual(*old, bc) {
			ns.backends[bc.Name] = cur.backends[bc.Name]
			continue
		}
		b, err := proxy.NewBackend(backendOptions(next, bc))
		if err != nil {
			return "", fmt.Errorf("%s: %w", next.File, err)
		}
		ns.backends[bc.Name] = b
		if cur.backends[bc.Name] == nil {
			changes = append(changes, "backend "+bc.Name+" added")
		} else {
			changes = append(changes, "backend "+bc.Name+" changed")
		}
	}
	for _, bc := range cur.cfg.Backends {
		if ns.backends[bc.Name] == nil {
			changes = append(changes, "backend "+bc.Name+" removed")
		}
	}
	for i, fc := range next.Frontends {
		old := cur.frontend(fc.Name)
		if old != nil && reflect.DeepEqual(old.fc, fc) && ns.backends[fc.Backend] == cur.backends[fc.Backend] && timeoutsSame {
			ns.frontends = append(ns.frontends, old)
			ns.sockets[old.sock.key()] = old.sock
			continue
		}
		sock := cur.sockets[fc.Bind]
		if sock == nil {
			var err error
			if sock, err = listenSocket(fc.Bind, nil); err != nil {
				return "", next.ErrorAt(fmt.Sprintf("frontends[%d].bind", i), err.Error())
			}
			opened = append(opened, sock)
		}
		h := sock.newHandle()
		f, err := d.newFrontend(next, ns.backends, i, fc, h)
		if err != nil {
			return "", err
		}
		lf := newLiveFrontend(fc, f, sock, h)
		built = append(built, lf)
		ns.frontends = append(ns.frontends, lf)
		ns.sockets[sock.key()] = sock
		switch {
		case old == nil:
			changes = append(changes, "frontend "+fc.Name+" added")
		case old.fc.Bind != fc.Bind:
			changes = append(changes, "frontend "+fc.Name+" rebound "+old.fc.Bind+" -> "+fc.Bind)
		default:
			changes = append(changes, "frontend "+fc.Name+" changed")
		}
	}
	var gone []*liveFrontend
	for _, lf := range cur.frontends {
		if !slices.Contains(ns.frontends, lf) {
			gone = append(gone, lf)
			if !slices.ContainsFunc(next.Frontends, func(fc config.Frontend) bool { return fc.Name == lf.fc.Name }) {
				changes = append(changes, "frontend "+lf.fc.Name+" removed")
			}
		}
	}
	if !timeoutsSame {
		changes = append(changes, "timeouts changed")
	}

	// Everything new is built: switch.
	ok = true
	for _, lf := range built {
		d.serve(lf)
		lf.sock.serve(lf.h) // from here, its socket's new connections go to it
	}
	d.mu.Lock()
	d.state = ns
	d.mu.Unlock()
	for bind, s := range cur.sockets {
		if ns.sockets[bind] != s {
			_ = s.Close() // the new bind listens already
		}
	}
	var oldBackends []*proxy.Backend
	for name, b := range cur.backends {
		if ns.backends[name] != b {
			oldBackends = append(oldBackends, b)
		}
	}
	if len(oldBackends) > 0 || len(ns.backends) != len(cur.backends) {
		d.restartChecks()
	}
	d.drain(gone, oldBackends, next)
	// Kept TLS frontends read their certificates again, as SIGHUP did
	// before reloads applied the whole file.
	var errs []error
	for _, lf := range ns.frontends {
		if tf, isTLS := lf.f.(*proxy.TLSFrontend); isTLS && !slices.Contains(built, lf) {
			if err := tf.Reload(); err != nil {
				errs = append(errs, fmt.Errorf("frontend %s: certificates: %w", lf.fc.Name, err))
			}
		}
	}
	if len(changes) == 0 {
		changes = append(changes, "no change")
	}
	return strings.Join(changes, "; "), errors.Join(errs...)
}

// drain shuts the replaced frontends down in the background: requests in
// flight finish (until the longest timeout), idle keep-alive connections
// close; then the backends no frontend uses any more release their pools.
func (d *Daemon) drain(gone []*liveFrontend, oldBackends []*proxy.Backend, cfg *config.Config) {
	if len(gone) == 0 && len(oldBackends) == 0 {
		return
	}
	t := timeouts(cfg)
	grace := max(t.Client, t.Server, t.HTTPKeepAlive, 30*time.Second)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, grace)
		defer cancel()
		var wg sync.WaitGroup
		for _, lf := range gone {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The connection its accept loop took last is served
				// before the engine stops taking connections: its
				// handle closes first, then Serve returns (at once,
				// unless it waits for a global maxconn slot, when it
				// holds no connection).
				_ = lf.h.Close()
				select {
				case <-lf.served:
				case <-time.After(time.Second):
				}
				if err := lf.f.Shutdown(ctx); err != nil {
					d.log.Warn("frontend drained with connections left", "frontend", lf.fc.Name, "err", err)
				}
			}()
		}
		wg.Wait()
		for _, b := range oldBackends {
			b.Close()
		}
	}()
}

// serverCollisions refuses a server of next that is not in the running
// file but has the name of a server added through the admin API: that one
// is replicated state every node shares, and the file would silently
// redefine it on this node only.
func (d *Daemon) serverCollisions(cur, next *config.Config) error {
	table := d.fsm.Servers()
	var errs config.Errors
	for i, bc := range next.Backends {
		old := backendConfig(cur, bc.Name)
		for j, s := range bc.Servers {
			if slices.ContainsFunc(old.Servers, func(o config.Server) bool { return o.Name == s.Name }) {
				continue
			}
			if st := table.Get(bc.Name, s.Name); st.Dynamic {
				errs = append(errs, next.ErrorAt(fmt.Sprintf("backends[%d].servers[%d].name", i, j),
					fmt.Sprintf("server %s of backend %s is defined through the admin API (replicated to every node, removed=%v); the file cannot redefine it: remove it with haraftctl backends remove %s/%s and choose another name, or keep it out of the file", s.Name, bc.Name, st.Removed, bc.Name, s.Name)))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (s *liveState) frontend(name string) *liveFrontend {
	for _, lf := range s.frontends {
		if lf.fc.Name == name {
			return lf
		}
	}
	return nil
}

// orderedBackends lists the backends in config order.
func (s *liveState) orderedBackends() []*proxy.Backend {
	out := make([]*proxy.Backend, 0, len(s.cfg.Backends))
	for _, bc := range s.cfg.Backends {
		out = append(out, s.backends[bc.Name])
	}
	return out
}
