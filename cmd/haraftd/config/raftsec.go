package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// raftSecurity checks how the cluster port is protected. Anyone who can
// connect to a plain-TCP cluster port can speak Raft to the node (depose
// the leader, have commands applied), so a bind or advertise address that
// is not loopback needs raft.tls, unless the file says raft.insecure: true
// in so many words.
func (v *validator) raftSecurity(c *Config) {
	r := &c.Raft
	if r.TLS != nil && r.Insecure {
		v.errf("raft.insecure", "true contradicts raft.tls (the cluster port speaks mutual TLS): remove one")
	}
	if r.TLS == nil && !r.Insecure {
		if path, addr := c.reachableRaftAddr(); path != "" {
			id := c.Node.ID
			if id == "" {
				id = "ID"
			}
			v.errAt(lineOf(v.lines, path), "raft.tls",
				"required: %s %q is not a loopback address, and without TLS anyone who reaches it can speak Raft to this node; "+
					"make certificates with `haraftd tls ca create` and `haraftd tls cert create -node %s`, or set raft.insecure: true to run without",
				path, addr, id)
		}
	}
	if r.ClusterID != "" && (len(r.ClusterID) > 64 || !isServerName(r.ClusterID)) {
		v.errf("raft.cluster_id", "invalid cluster id %q: 1 to 64 letters, digits, '.', '_' or '-'", r.ClusterID)
	}
}

// reachableRaftAddr returns the first of raft.bind and raft.advertise that
// is not a loopback address (all interfaces and host names count as
// reachable, except localhost), with its field.
func (c *Config) reachableRaftAddr() (path, addr string) {
	for _, f := range []struct{ path, addr string }{{"raft.bind", c.Raft.Bind}, {"raft.advertise", c.Raft.Advertise}} {
		if f.addr == "" {
			continue
		}
		h, err := parseAddr(f.addr, listenAddr)
		if err != nil || (h.wildcard && f.path == "raft.advertise") {
			continue // reported by its own check
		}
		if !isLoopbackHost(h) {
			return f.path, f.addr
		}
	}
	return "", ""
}

func isLoopbackHost(h hostPort) bool {
	if h.wildcard {
		return false
	}
	if h.host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h.host)
	return err == nil && ip.IsLoopback()
}

// SecurityWarnings returns what is legal but unsafe in c, each as
// "file:line: field: reason": haraftd -check prints them, and the daemon
// logs them at WARN at every start.
func (c *Config) SecurityWarnings() Errors {
	var ws Errors
	if c.Raft.Insecure && c.Raft.TLS == nil {
		file := c.File
		if file == "" {
			file = DevFile
		}
		ws = append(ws, &Error{File: file, Line: lineOf(c.lines, "raft.insecure"), Field: "raft.insecure",
			Reason: fmt.Sprintf("the cluster port %s speaks plain TCP: anyone who can reach it can speak Raft to this node and have commands applied; set raft.tls (haraftd tls ca create, haraftd tls cert create)", c.Raft.Bind)})
	}
	file := c.File
	if file == "" {
		file = DevFile
	}
	ws = append(ws, c.adminWarnings(file)...) // admin.go
	return ws
}

// ClusterID is the id of the cluster this node belongs to, recorded in
// its raft.db (a raft.db of another cluster is refused): raft.cluster_id,
// or else one derived from the static peer set (every id and address), as
// etcd derives its cluster id from --initial-cluster. Nodes bootstrapped
// from the same peers agree on it without a word. Editing raft.peers
// later changes the derived id: the node then refuses its data with both
// ids named, and raft.cluster_id set to the recorded one keeps it. "" (no
// raft.cluster_id, no peers: a node that joins) checks nothing.
func (c *Config) ClusterID() string {
	if c.Raft.ClusterID != "" {
		return c.Raft.ClusterID
	}
	if len(c.Raft.Peers) == 0 {
		return ""
	}
	ps := make([]string, len(c.Raft.Peers))
	for i, p := range c.Raft.Peers {
		ps[i] = p.ID + "=" + p.Addr
	}
	slices.Sort(ps)
	sum := sha256.Sum256([]byte(strings.Join(ps, "\n")))
	return "peers-" + hex.EncodeToString(sum[:8])
}
