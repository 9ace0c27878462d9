// Package freeport gives tests loopback ports for processes they start
// (a haraftd, an HAProxy) that bind by number, not by a listener handed
// over.
//
// A port the kernel picked for net.Listen(":0") lies in the ephemeral
// range, and once that listener is closed any outgoing connection on the
// machine may take it as its local port before the process binds it: on
// a busy machine running many test packages at once that happens, and the
// process fails with "address already in use". These ports are drawn at
// random below the ephemeral range, where the kernel never hands out a
// local port, and each is checked free on every interface before it is
// returned.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// span is how many ports below the ephemeral range are drawn from.
const span = 12000

// Port returns a TCP port free a moment ago on every interface, outside
// the kernel's ephemeral range.
func Port(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 200 {
		p := low - 1 - rand.IntN(span)
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return p
	}
	t.Fatalf("no free port found in [%d, %d)", low-span, low)
	return 0
}

// Addr returns "127.0.0.1:PORT" for a Port.
func Addr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Port(t))
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default where it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return linuxDefault
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= span+1024 {
		return linuxDefault
	}
	return n
}
