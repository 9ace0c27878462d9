package proxy

import (
	"github.com/haraft/haraft/proxy/proxyproto"
	"slices"
	"strings"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proxy/h1"
)

// A backend's servers are the configured ones plus those added at run time
// (fsm AddServer), minus those removed (RemoveServer), each with its
// effective weight (the operator's SetServerWeight, else the configured
// one). All of that is agreed state: it lives in the FSM's server table,
// which is immutable and replaced on every change. The proxy derives a
// serverSet from each table it sees, once: the request path loads one
// atomic pointer and compares the table pointer, with no lock and no
// allocation, and every node derives the same set from the same table.

// serverSet is a backend's servers under one agreed server table. It is
// immutable once published.
type serverSet struct {
	table *fsm.ServerTable
	// servers: every server not removed, configured ones in config order,
	// then those added at run time by name.
	servers []*Server
	// usable: the servers that may take new sessions (usable in the table,
	// effective weight > 0), in the order of servers.
	usable []*Server
	// byName and byCookie also hold removed servers, so that the sessions
	// bound to them are recognised and reassigned (as an agreed-down
	// server's) instead of being treated as unknown.
	byName   map[string]*Server
	byCookie map[string]*Server
}

// serverRuntime is what a server keeps on this node across server tables:
// its connection pool and its counters. Views of the same server (same
// name and address) under successive tables share it.
type serverRuntime struct {
	pool *h1.Pool // idle keep-alive connections
	serverCounters
	// sendProxy is the PROXY protocol version of the header sent at the
	// start of each connection to the server (0: none); configured
	// servers only.
	sendProxy proxyproto.Version
}

// runtimeKey names a serverRuntime: a server re-added at another address
// gets a new pool.
func runtimeKey(name, addr string) string { return name + "\x00" + addr }

// setFor returns the backend's server set under table t, deriving it when
// t is not the table of the last set derived. Tables are immutable and
// replaced on every change, so this happens once per change, not per
// request; callers must not modify the set.
func (b *Backend) setFor(t *fsm.ServerTable) *serverSet {
	if s := b.set.Load(); s.table == t {
		return s
	}
	b.setMu.Lock()
	defer b.setMu.Unlock()
	s := b.set.Load()
	if s.table == t {
		return s
	}
	s = b.deriveSet(t, s)
	b.set.Store(s)
	return s
}

// ServersFor returns the servers of the backend under table t (nil: as
// configured): the configured ones not removed, in config order, then
// those added at run time and not removed, by name, each with its
// effective weight. Callers must not modify the slice.
func (b *Backend) ServersFor(t *fsm.ServerTable) []*Server { return b.setFor(t).servers }

// ServerFor returns the server named name under table t, also when it was
// removed (nil when it is unknown).
func (b *Backend) ServerFor(t *fsm.ServerTable, name string) *Server {
	return b.setFor(t).byName[name]
}

// serverDef is one server's definition under a table.
type serverDef struct {
	name, addr, cookie string
	weight             int
	dynamic, removed   bool
}

// deriveSet builds the server set of table t. prev is the last set (its
// views are reused when unchanged, so that a *Server stays the same
// object across tables that do not touch it); b.setMu is held.
func (b *Backend) deriveSet(t *fsm.ServerTable, prev *serverSet) *serverSet {
	defs := b.serverDefs(t)
	s := &serverSet{table: t, byName: make(map[string]*Server, len(defs)), byCookie: make(map[string]*Server, len(defs))}
	live := make(map[string]bool, len(defs))
	for _, d := range defs {
		k := runtimeKey(d.name, d.addr)
		live[k] = true
		rt := b.runtimes[k]
		if rt == nil { // added at run time: no maxconn
			rt = &serverRuntime{pool: h1.NewPool(d.name, d.addr, b.poolOptions())}
			b.runtimes[k] = rt
		}
		var sv *Server
		if p := prev.byName[d.name]; p != nil && p.serverRuntime == rt && p.Cookie == d.cookie && p.Weight == d.weight && p.Dynamic == d.dynamic {
			sv = p
		} else {
			sv = &Server{Name: d.name, Addr: d.addr, Cookie: d.cookie, Weight: d.weight, Dynamic: d.dynamic, serverRuntime: rt}
		}
		s.byName[d.name] = sv
		if d.removed {
			continue
		}
		if _, dup := s.byCookie[sv.Cookie]; !dup { // the first server (configured ones first) keeps a shared cookie
			s.byCookie[sv.Cookie] = sv
		}
		s.servers = append(s.servers, sv)
		if sv.Weight > 0 && t.Get(b.Name, d.name).Usable() {
			s.usable = append(s.usable, sv)
		}
	}
	for _, d := range defs { // a removed server's cookie, unless a live server has it
		if _, dup := s.byCookie[s.byName[d.name].Cookie]; d.removed && !dup {
			s.byCookie[s.byName[d.name].Cookie] = s.byName[d.name]
		}
	}
	// A run-time server's pool is dropped once no table names it at that
	// address any more (re-added elsewhere); configured ones stay.
	for k, rt := range b.runtimes {
		if !live[k] && !b.configured[k] {
			rt.pool.CloseIdle(false)
			delete(b.runtimes, k)
		}
	}
	return s
}

// serverDefs lists the servers of the backend under table t: configured
// ones in config order, then run-time ones by name. A server added at run
// time is defined by the table (address, cookie, weight), the same on
// every node whatever its config file says.
func (b *Backend) serverDefs(t *fsm.ServerTable) []serverDef {
	defs := make([]serverDef, 0, len(b.Servers))
	seen := make(map[string]bool, len(b.Servers))
	for _, c := range b.Servers {
		seen[c.Name] = true
		st := t.Get(b.Name, c.Name)
		d := serverDef{name: c.Name, addr: c.Addr, cookie: c.Cookie, weight: c.Weight, removed: st.Removed}
		if st.Dynamic && st.Addr != "" { // re-added at run time
			d.addr, d.cookie, d.dynamic = st.Addr, b.dynamicServerCookie(c.Name, st.Cookie), true
		}
		if st.WeightSet {
			d.weight = int(st.Weight)
		}
		defs = append(defs, d)
	}
	if t == nil {
		return defs
	}
	start := len(defs)
	prefix := b.Name
	for k, st := range t.All() {
		if k.Backend != prefix || seen[k.Name] || !st.Dynamic || st.Addr == "" {
			continue
		}
		w := 1 // weight reset to "configured": a run-time server has none, so the default
		if st.WeightSet {
			w = int(st.Weight)
		}
		defs = append(defs, serverDef{name: k.Name, addr: st.Addr, cookie: b.dynamicServerCookie(k.Name, st.Cookie),
			weight: w, dynamic: true, removed: st.Removed})
	}
	slices.SortFunc(defs[start:], func(x, y serverDef) int { return strings.Compare(x.name, y.name) })
	return defs
}

// dynamicServerCookie is the cookie value naming a server added at run
// time: the dynamic cookie when the backend has a key, else the agreed
// cookie (the name by default).
func (b *Backend) dynamicServerCookie(name, cookie string) string {
	if b.Cookie != nil && b.Cookie.DynamicKey != "" {
		return DynamicCookie(b.Cookie.DynamicKey, b.Name, name)
	}
	if cookie == "" {
		return name
	}
	return cookie
}
