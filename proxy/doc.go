// Package proxy owns haraft's data plane policy: the frontends
// (listeners, maxconn, TLS with HTTP/2, mode tcp), the backends with their
// servers and server sets, server selection (balance policies and the
// deterministic rendezvous reassignment), the cookie modes and stick on
// src, the learner that batches learned bindings into Raft proposals,
// active health checks and their agreement, and session expiry.
//
// Where each concept lives: frontend.go and session.go (the HTTP/1.1
// Frontend), tlsfrontend.go with h2guard.go (TLS; HTTP/2 on net/http),
// tcpfrontend.go (mode tcp, over the engine in package l4), backend.go and
// serverset.go (backends and the server set derived from the agreed server
// table), router.go (one routing decision), balance.go (the Balancer
// policies), cookiemode.go (the cookieMode interface) with one
// cookiemode_<name>.go per mode (learn, prefix, insert, rewrite),
// cookie.go (Cookie and Set-Cookie parsing and rewriting), stick.go (stick
// on src), learn.go (the Learner), health.go and agree.go (checks and
// their agreement), expiry.go (session expiry), accesslog.go (the
// access log fields of HTTP/1.1 exchanges), h2log.go (those of HTTP/2
// requests), tcpaccesslog.go (tcplog lines of mode tcp connections; the
// line format is package accesslog), proxyprotocol.go (accept_proxy on a
// bind and send_proxy's header; the header itself is package
// proxyproto).
//
// cluster.go holds the Cluster interface, the package's only way to Raft.
// The health agreement and session expiry are leader loops (package
// cluster/leader): the daemon registers them, and they run only while the
// node leads.
//
// HTTP/1.1 is framed by the engine in package h1: the Frontend is its
// Policy (session.go). For each request the engine has read and framed,
// the frontend routes it (router.go, from the Cookie values the engine
// hands it and the client's address), holds the server's maxconn slot,
// rewrites the Cookie line and adds X-Forwarded-*, then applies the cookie
// mode to the response's Set-Cookie values and learns the binding. The
// policy never reads a byte the engine did not frame, and the engine
// never sees a Backend, a Server or a cookie mode: either can change
// without the other. The TLSFrontend does the TLS handshakes and hands
// HTTP/1.1 connections (ALPN http/1.1 or none) to a Frontend of its own
// on the same engine; only HTTP/2 (ALPN h2) takes net/http's path
// (tlsfrontend.go, h2guard.go). FRAMING.md lists the framing rules.
//
// The proxy reads agreed state (committed session bindings, each server's
// admin state and agreed health) from the FSM through the State interface
// and never waits for Raft on the request path unless a backend is
// configured with learn_commit: sync. Nothing on the path of a request
// allocates (BenchmarkForward, BenchmarkRoute, BenchmarkRewrite: 0
// allocs/op); the measurements against HAProxy 2.6 are in
// bench/proxy/README.md.
package proxy

import (
	"github.com/haraft/haraft/fsm"
)

// State is the agreed state the proxy reads: committed bindings and the
// server table. *fsm.FSM satisfies it.
type State interface {
	Lookup(backend, key string) (server string, ok bool)
	Servers() *fsm.ServerTable
}
