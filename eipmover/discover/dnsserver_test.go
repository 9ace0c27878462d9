package discover

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a small authoritative DNS server on a loopback UDP socket
// answering A and SRV questions from its records (NXDOMAIN for a name it
// has none of, an empty answer for a type it has none of), and SERVFAIL
// while failing is set.
type dnsServer struct {
	addr string

	mu      sync.Mutex
	a       map[string][]netip.Addr // fqdn -> addresses
	srv     map[string][]dnsmessage.SRVResource
	failing bool
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), a: map[string][]netip.Addr{}, srv: map[string][]dnsmessage.SRVResource{}}
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

func (s *dnsServer) setA(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.a[fqdn(name)] = nil
	for _, a := range addrs {
		s.a[fqdn(name)] = append(s.a[fqdn(name)], netip.MustParseAddr(a))
	}
}

func (s *dnsServer) setSRV(name string, targets ...dnsmessage.SRVResource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[fqdn(name)] = targets
}

func (s *dnsServer) setFailing(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = v
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

func (s *dnsServer) answer(req []byte) []byte {
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
