// Package proxy owns haraft's data plane: the frontends (listeners), the
// backends with their servers, server selection (balance policies and the
// deterministic rendezvous reassignment), the cookie modes (learn, prefix,
// insert, rewrite), the learner that batches learned bindings into Raft
// proposals, and the error responses clients see.
//
// The proxy reads agreed state (committed session bindings, each server's
// admin state and agreed health) from the FSM through the State interface
// and never waits for Raft on the request path unless a backend is
// configured with learn_commit: sync. Routing decisions (router.go) are
// separate from the forwarding engine, so the engine can be replaced
// without touching cookie or balancing behaviour.
//
// # The forwarding engine
//
// Requests are forwarded by a purpose-built HTTP/1.1 engine, not by
// net/http and httputil.ReverseProxy. That choice was made by measurement
// (bench/proxy runs HAProxy 2.6 and haraft side by side; DESIGN.md has the
// anchor figures).
//
// The ReverseProxy version reached 0.24–0.49× HAProxy's requests/s with
// 1.1–8× its p99, and used 4.1–4.3× HAProxy's CPU time per request. Its
// profile under load: about 40% of the CPU in allocation and garbage
// collection (mallocgc 21%, GC assists 11%, background marking 8.5%, per
// request: an http.Request, header maps, canonicalised keys, a context,
// the cloned outgoing request), three goroutines per request (the server
// connection, the transport's readLoop and writeLoop) handing off over
// channels (selectgo), and a response written in two system calls (head,
// then the flushed body).
//
// The engine (one goroutine per client connection):
//
//   - h1parse.go parses a request or response head in place in the
//     connection's pooled 16 KiB read buffer (HAProxy's tune.bufsize):
//     fields are offsets, the fields the engine acts on are classified
//     by length and a case fold, nothing is copied. It is strict (RFC 9112:
//     400 on obs-fold, whitespace before a colon, bare CR, conflicting
//     Content-Length, Transfer-Encoding in HTTP/1.0 or not ending in
//     chunked, a target outside the URI grammar or whose authority
//     differs from Host; 501 for a coding besides chunked; 414 for a
//     request line, 431 for fields past MaxHeaderBytes or 128 fields; 505
//     for other major versions) and fuzzed. The framing is decided once,
//     here: a Connection token never removes a field the engine acts on.
//     FRAMING.md has every case beside RFC 9112 and HAProxy 2.6.
//   - The router reads the Cookie lines as string views of that buffer
//     (bstr); the learner copies what it keeps. The backend's server set
//     (configured servers and those added at run time, minus the removed
//     ones, with their agreed weights; serverset.go) is derived once per
//     agreed server table, not per request.
//   - forward.go builds the outgoing head by appending to a scratch
//     buffer: hop-by-hop fields dropped (Connection and the other fields
//     it names, Keep-Alive, Proxy-Connection, TE, Upgrade unless
//     upgrading), Content-Length written as the one value framed, the
//     cookie rewritten in place, X-Forwarded-For added. A response whose
//     framing is in doubt (bytes past its end, both framings, a body its
//     status forbids announced) never returns its server connection to
//     the pool. A head and a
//     body that fits leave in one write, each way.
//   - pool.go keeps per-server keep-alive connections, most recently used
//     first, each with its read buffer; one idle over a second is probed (a non-blocking MSG_PEEK)
//     before reuse, one idle over four seconds is closed; an idempotent
//     request whose reused connection turns out closed is sent again on a
//     new one. A connect failure is redispatched once to another server
//     before anything of the request was read, so even a POST can move.
//   - body.go streams bodies, Content-Length or chunked (kept chunked but
//     normalized: size digits and CRLF, no extensions, trailers checked;
//     a malformed chunk already read with its head is refused before
//     anything is sent, one found later closes both sides), a few buffers
//     at a time; large
//     Content-Length bodies move with splice(2). A request body streams in
//     a second goroutine while the response is read, so 100 Continue is
//     relayed and an early answer ends the upload. A 101 turns the
//     exchange into a tunnel.
//   - Deadlines (timeout client/server/http-request/http-keep-alive) are
//     re-armed only when they drifted by more than 1/16 of the timeout,
//     from two clock readings per request; most requests touch no timer.
//   - sysio_linux.go does socket I/O with raw recvfrom/sendto through
//     syscall.RawConn: Go's poller still waits and enforces the deadlines,
//     but the calls skip entersyscall/exitsyscall. With plain net.Conn I/O
//     the runtime treated every loopback write as a possibly blocking call:
//     its monitor thread kept waking every 20 µs and handing the only P
//     (GOMAXPROCS=1) to another thread, 7.6% of the CPU in sysmon alone
//     and twice HAProxy's context switches; with raw calls sysmon took
//     0.9%.
//   - Before the read that follows a write to the same peer, the
//     goroutine yields: the peer cannot have answered yet, and the read
//     would fail with EAGAIN. It cut the reads per request from 3.9 to
//     3.2 and the context switches by a third (HAProxy does 2 reads: it
//     only reads what epoll reported); the CPU time per request stayed
//     the same within the noise (the yield costs about what the failed
//     reads did).
//
// Nothing on the path of a request allocates: BenchmarkForward (a keep-alive
// client, the frontend, a server, over loopback) reports 0 allocs/op in
// insert and learn mode, and BenchmarkParse*, BenchmarkRoute and
// BenchmarkRewrite 0 allocs/op each.
//
// Measured with bench/proxy on the 2-core machine of DESIGN.md while other
// sessions' builds, fuzzers and chaos tests kept it at a load of 6–14
// (absolute figures are therefore low and move 2× between rounds; the
// ratios of one run and the CPU time per request are what holds):
//
//	                              insert req/s  p99    CPU/req   learn req/s  p99    CPU/req
//	ReverseProxy, simultaneous    0.37×         1.36×  4.55×     0.35×        1.39×  4.69×
//	ReverseProxy, one after other 0.49×         1.09×  4.32×     0.38×        0.95×  4.14×
//	engine, simultaneous (7 rnd)  1.11×         0.96×  0.94×     1.06×        0.92×  0.91×
//	engine, one after other (5)   1.30×         2.15×  0.88×     1.01×        0.70×  0.88×
//
// (haraft/HAProxy, medians over the rounds; "simultaneous" loads both
// proxies at once on one core, so both see the same interference, see
// bench/proxy/README.md.)
//
// On a quiet machine (load 1.5–3.5, 2026-11-25, after the latency
// histograms went in; 5 rounds each, every round within ±0.03× of the
// median):
//
//	                              insert req/s  p99    CPU/req   learn req/s  p99    CPU/req
//	engine, simultaneous (5 rnd)  1.10×         1.00×  0.91×     1.09×        1.01×  0.91×
//	engine, one after other (5)   0.98×         1.30×  0.95×     0.99×        1.17×  0.93×
//	engine, split CPUs (3)        0.99×         1.06×  0.91×     0.97×        1.18×  0.93×
//
// One after the other, neither proxy is the bottleneck here: each uses
// 68–80% of its core while wrk and the two backends saturate the other
// (the backend answered directly gives 38–67k req/s), so req/s ties and
// the ratio says nothing of the proxy; haraft's p99 is then 1–1.3 ms
// above HAProxy's 3.4 ms. Sharing one core (simultaneous), where the
// proxy is what limits, haraft does 1.10× the requests at the same p99
// with 9% less CPU per request, and learn mode stays within 3% of insert
// mode. In the quietest window seen (load 4), one round
// gave HAProxy 23.1k req/s, p99 6.8 ms, 22.0 µs CPU per request and haraft
// 26.5k req/s, p99 6.3 ms, 18.0 µs: 1.15×. haraft's learn mode costs the
// same CPU per request as insert mode (19.1 and 18.7 µs); its req/s is
// higher because the application sets no cookie then.
//
// What is left: about 80% of haraft's CPU time is in the kernel, most of
// it in sendto, which on loopback runs the receiver's TCP input and wakes
// it (the woken wrk or backend then often preempts the proxy on its core).
// Go's scheduler (park, netpoll, the yield) takes about 7% and the
// engine's own code (parsing, heads, routing) about 5%. The one cost
// HAProxy does not pay is the failed read before each wait (about 1.2 a
// request): Go's poller only waits after a read failed (see below).
//
// Tried and dropped: waiting for readability before the first read (a
// RawConn read function answering "not yet" on its first call, which would
// save the EAGAIN read altogether). Go's poller clears a readiness
// notification already collected when a read starts (pollReset), so with
// edge-triggered epoll an answer that arrived just before would never wake
// the reader: a hang until the timeout.
package proxy

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/haraft/haraft/fsm"
	"github.com/haraft/haraft/proto/fsmpb"
)

// State is the agreed state the proxy reads: committed bindings and the
// server table. *fsm.FSM satisfies it.
type State interface {
	Lookup(backend, key string) (server string, ok bool)
	Servers() *fsm.ServerTable
}

// Proposer submits commands to the cluster. *cluster.Node satisfies it.
type Proposer interface {
	Apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsmpb.ApplyResult, error)
}
