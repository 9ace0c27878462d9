// Package tcpcheck is HAProxy's tcp-check for health checks: a sequence of
// steps run on one connection to a server, each a send (text with
// HAProxy's escapes, or hex) or an expect (an exact string, a regular
// expression or hex bytes) of what the server answered. A step that fails
// fails the check with a reason naming the step. What an expect reads is
// capped (MaxRead), so a server streaming garbage costs at most that much
// memory per check.
package tcpcheck
