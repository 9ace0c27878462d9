// Package h1 is haraft's HTTP/1.1 engine. Its contract: client bytes in,
// well-framed requests out; server bytes in, well-framed responses out.
// Where each request goes, and what it does to cookies, is asked of a
// Policy (package proxy's Frontend is one); the engine imports nothing of
// the policy, and the policy reads nothing of the engine but the views it
// is handed (Request, Response) and the server pools it names (Pool).
//
// What the engine owns:
//
//   - Framing (h1parse.go). A request or response head is parsed in
//     place in the connection's pooled 16 KiB read buffer (HAProxy's
//     tune.bufsize): fields are offsets, the fields the engine acts on
//     are classified by length and a case fold, nothing is copied. It is
//     strict (RFC 9112: 400 on obs-fold, whitespace before a colon, bare
//     CR, conflicting Content-Length, Transfer-Encoding in HTTP/1.0 or not
//     ending in chunked, a target outside the URI grammar or whose
//     authority differs from Host; 501 for a coding besides chunked; 414
//     for a request line, 431 for fields past MaxHeaderBytes or 128
//     fields; 505 for other major versions). The framing is decided once,
//     here: a Connection token never removes a field the engine acts on.
//     ../FRAMING.md has every case beside RFC 9112 and HAProxy 2.6.
//   - The outgoing heads (forward.go), appended to a scratch buffer:
//     hop-by-hop fields dropped (Connection and the other fields it
//     names, Keep-Alive, Proxy-Connection, TE, Upgrade unless upgrading),
//     Content-Length written as the one value framed, the lines the
//     policy rewrites (Cookie, X-Forwarded-Host/-Proto) and adds asked of
//     it. A head and a body that fits leave in one write, each way. A
//     response whose framing is in doubt (bytes past its end, both
//     framings, a body its status forbids announced) never returns its
//     server connection to the pool.
//   - Bodies (body.go): Content-Length or chunked (kept chunked but
//     normalized: size digits and CRLF, no extensions, trailers checked;
//     a malformed chunk already read with its head is refused before
//     anything is sent, one found later closes both sides), a few buffers
//     at a time; large Content-Length bodies move with splice(2). A
//     request body streams in a second goroutine while the response is
//     read, so 100 Continue is relayed and an early answer ends the
//     upload. A 101 turns the exchange into a tunnel.
//   - Server connections (pool.go): per-server keep-alive connections,
//     most recently used first; one idle over a second is probed (a
//     non-blocking MSG_PEEK) before reuse, one idle over four seconds is
//     closed; an idempotent request whose reused connection turns out
//     closed is sent again on a new one; a server that cannot be reached
//     is the policy's to replace (Session.Redispatch) before anything of
//     the request was sent, so even a POST can move.
//   - Client connections (h1conn.go, idle.go, park_linux.go, server.go):
//     one goroutine each while they work; an idle one holds no buffer
//     (they go back to their pools while it waits), and one kept alive
//     without a request for Options.IdlePark (1 s) is parked in an epoll
//     set of the server's without a goroutine, and served by a new one
//     when bytes come; graceful shutdown. Deadlines (timeout client,
//     server, http-request, http-keep-alive) are re-armed only when they
//     drifted by more than 1/16 of the timeout, from two clock readings
//     per request.
//   - Socket I/O (sysio_linux.go): raw recvfrom/sendto through
//     syscall.RawConn; Go's poller still waits and enforces the
//     deadlines, but the calls skip entersyscall/exitsyscall (with plain
//     net.Conn I/O the runtime's monitor handed the one P to another
//     thread mid-call, a context switch each time). Before the read that
//     follows a write to the same peer, the goroutine yields: the peer
//     cannot have answered yet.
//   - Refusals (rejects.go): every one is a status with a short reason,
//     counted by reason (Counters.Refused), never a panic.
//
// Nothing on the path of a request allocates: BenchmarkServe (this
// package, with a one-upstream policy) and proxy's BenchmarkForward (with
// routing and cookies) report 0 allocs/op. The measurements against
// HAProxy, and why the engine is not net/http's, are in
// bench/proxy/README.md.
package h1
