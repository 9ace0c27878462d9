// Package accesslog owns haraft's per-request and per-connection log: the
// Line a data path fills (timings, names, counts, termination state), its
// formats (HAProxy's "option httplog" and "option tcplog", and JSON),
// and the writers (stdout, a file reopened for logrotate, syslog RFC 5424
// over UDP or a unix datagram socket).
//
// The data path hands a *Line to a Logger (Log); the Logger formats it
// into a pooled buffer and queues it for a writer goroutine. The queue is
// bounded: when the writer falls behind (a slow disk, a syslog server
// gone), lines are dropped and counted (Stats), and the request path never
// waits. In steady state formatting and queueing allocate nothing
// (BenchmarkAppendHTTP, BenchmarkLog).
package accesslog
