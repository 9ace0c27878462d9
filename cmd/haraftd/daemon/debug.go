package daemon

import (
	"net"
	"net/http"
	"net/http/pprof"
)

// debugHandlers adds Go's profiler under /debug/pprof/ to the ops listener
// when http.debug is set: CPU and heap profiles, goroutine dumps and
// execution traces of the running node, for `go tool pprof` and `go tool
// trace` (bench/proxy/run.sh TRACE= uses it). It is off by default, and a
// node that serves it beyond loopback says so at start.
func (d *Daemon) debugHandlers(mux *http.ServeMux) {
	if !d.cfg.HTTP.Debug {
		return
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if !loopbackListener(d.opsLn) {
		d.log.Warn("http.debug: the profiler is served beyond loopback; anyone who reaches the ops listener can read the node's memory profiles and goroutine stacks", "addr", d.cfg.HTTP.Addr)
	}
}

// loopbackListener reports whether ln accepts only loopback connections.
func loopbackListener(ln net.Listener) bool {
	if ln == nil {
		return false
	}
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}
