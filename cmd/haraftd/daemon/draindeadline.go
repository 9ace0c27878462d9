package daemon

import (
	"context"
	"time"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// drainCheckInterval is how often the node looks for drain deadlines
// that passed.
const drainCheckInterval = 250 * time.Millisecond

// serverCloser is a frontend that can close its connections to one server
// of its backend (mode tcp: proxy.TCPFrontend).
type serverCloser interface {
	CloseServer(name string) int
}

// runDrainDeadlines closes, on this node, the connections still open to a
// draining server once its replicated drain deadline has passed (once per
// deadline), and counts them.
func (d *Daemon) runDrainDeadlines(ctx context.Context) {
	done := map[fsm.ServerKey]int64{}
	t := time.NewTicker(drainCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.enforceDrainDeadlines(now, done)
		}
	}
}

// enforceDrainDeadlines closes the connections of every server whose
// drain deadline passed at now and is not in done, and records it there.
func (d *Daemon) enforceDrainDeadlines(now time.Time, done map[fsm.ServerKey]int64) {
	table := d.fsm.Servers()
	live := d.live()
	for k, dl := range done {
		if st := table.Get(k.Backend, k.Name); st.Admin != fsmpb.AdminState_ADMIN_DRAIN || st.DrainDeadline != dl {
			delete(done, k)
		}
	}
	for _, bc := range live.cfg.Backends {
		b := live.backends[bc.Name]
		if b == nil {
			continue
		}
		for _, s := range b.ServersFor(table) {
			k := fsm.ServerKey{Backend: bc.Name, Name: s.Name}
			st := table.Get(k.Backend, k.Name)
			if st.Admin != fsmpb.AdminState_ADMIN_DRAIN || st.DrainDeadline == 0 || now.UnixMilli() < st.DrainDeadline || done[k] == st.DrainDeadline {
				continue
			}
			done[k] = st.DrainDeadline
			n := b.CloseServerConns(table, s.Name)
			for _, lf := range live.frontends {
				if c, ok := lf.f.(serverCloser); ok && lf.fc.Backend == bc.Name {
					n += c.CloseServer(s.Name)
				}
			}
			s.CountDrainClosed(n)
			d.log.Info("drain deadline: closed the connections still open to the server", "backend", k.Backend, "server", k.Name,
				"closed", n, "deadline", time.UnixMilli(st.DrainDeadline).UTC())
		}
	}
}
