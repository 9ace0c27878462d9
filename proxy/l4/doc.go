// Package l4 is the TCP (layer 4) engine: it relays the bytes of each
// client connection to one server connection, both ways, with HAProxy's
// `mode tcp` timeouts (connect, client, server, tunnel, client-fin,
// server-fin), half-closes passed through, and no buffer held by a
// connection while it is idle. Where a connection goes is its Policy's
// decision (package proxy implements it with the same balancing, agreed
// health, maxconn and drain states as the HTTP/1.1 engine); the engine
// imports only the standard library.
package l4
