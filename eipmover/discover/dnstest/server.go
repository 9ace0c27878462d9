// Package dnstest is a small authoritative DNS server on loopback for
// the tests of DNS discovery and of haraftd -check.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server is a small authoritative DNS server on a loopback UDP socket
// answering A and SRV questions from its records (NXDOMAIN for a name it
// has none of, an empty answer for a type it has none of), and SERVFAIL
// while failing is set.
type Server struct {
	addr string

	mu      sync.Mutex
	a       map[string][]netip.Addr // fqdn -> addresses
	srv     map[string][]dnsmessage.SRVResource
	failing bool
}

// New starts a server; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{addr: pc.LocalAddr().String(), a: map[string][]netip.Addr{}, srv: map[string][]dnsmessage.SRVResource{}}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := s.answer(buf[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

// Addr is the server's host:port (UDP).
func (s *Server) Addr() string { return s.addr }

// SetA sets the A records of name; no address leaves the name with no A
// record (an empty answer, not NXDOMAIN).
func (s *Server) SetA(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a[fqdn(name)] = nil
	for _, a := range addrs {
		s.a[fqdn(name)] = append(s.a[fqdn(name)], netip.MustParseAddr(a))
	}
}

// SetSRV sets the SRV records of name.
func (s *Server) SetSRV(name string, targets ...dnsmessage.SRVResource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fqdn(name)] = targets
}

// SetFailing makes every answer SERVFAIL while v is true.
func (s *Server) SetFailing(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = v
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

func (s *Server) answer(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := strings.ToLower(q.Name.String())
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
	_, hasA := s.a[name]
	_, hasSRV := s.srv[name]
	switch {
	case s.failing:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !hasA && !hasSRV:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if rh.RCode == dnsmessage.RCodeSuccess {
		rrh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
		switch q.Type {
		case dnsmessage.TypeA:
			for _, a := range s.a[name] {
				_ = b.AResource(rrh, dnsmessage.AResource{A: a.As4()})
			}
		case dnsmessage.TypeSRV:
			for _, r := range s.srv[name] {
				_ = b.SRVResource(rrh, r)
			}
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
