// Package proxyproto reads and writes the PROXY protocol header (versions
// 1 and 2, as specified in HAProxy's proxy-protocol.txt) that a load
// balancer puts in front of a connection's bytes to pass on the client's
// address. The reader is strict: anything the specification does not
// allow is an error naming the reason, and it reads exactly the header's
// bytes, never into the payload that follows. It imports only the
// standard library.
package proxyproto
