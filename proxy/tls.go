package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CertPair names the PEM files of one certificate (with its chain) and its
// private key.
type CertPair struct {
	CertFile, KeyFile string
}

// certSet is one loaded generation of a CertStore's certificates: never
// modified once published, replaced whole by Reload.
type certSet struct {
	certs  []*tls.Certificate
	byName map[string]*tls.Certificate // lower-case DNS name or "*.example.com" → first certificate naming it
}

// CertStore holds the certificates a TLS listener serves and picks one per
// handshake by SNI. Reload reads the files again and swaps the whole set
// at once: handshakes after the swap get the new certificates, connections
// already established are not touched.
type CertStore struct {
	pairs []CertPair
	log   *slog.Logger
	mu    sync.Mutex // serializes Reload
	cur   atomic.Pointer[certSet]
}

// NewCertStore loads every pair; the first one is the default certificate
// (served when the client sends no SNI or a name no certificate covers).
// An error names the file at fault.
func NewCertStore(pairs []CertPair, log *slog.Logger) (*CertStore, error) {
	if log == nil {
		log = slog.Default()
	}
	if len(pairs) == 0 {
		return nil, errors.New("no certificate configured")
	}
	s := &CertStore{pairs: append([]CertPair(nil), pairs...), log: log}
	set, err := loadCertSet(s.pairs, log)
	if err != nil {
		return nil, err
	}
	s.cur.Store(set)
	return s, nil
}

// Reload reads every pair again. On any error the certificates in use stay
// (and the error, naming the file, is logged and returned): a half-written
// file never takes a listener down.
func (s *CertStore) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, err := loadCertSet(s.pairs, s.log)
	if err != nil {
		s.log.Error("tls reload failed, keeping the certificates in use", "err", err)
		return err
	}
	s.cur.Store(set)
	s.log.Info("tls certificates reloaded", "certs", len(set.certs))
	return nil
}

// Certificates returns the leaf certificates in use, in configuration order.
func (s *CertStore) Certificates() []*x509.Certificate {
	set := s.cur.Load()
	out := make([]*x509.Certificate, len(set.certs))
	for i, c := range set.certs {
		out[i] = c.Leaf
	}
	return out
}

// GetCertificate is tls.Config.GetCertificate: the certificate whose DNS
// names match the SNI exactly, else by wildcard (one label), else the
// default (the first configured).
func (s *CertStore) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := s.cur.Load()
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if name != "" {
		if c, ok := set.byName[name]; ok {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c, ok := set.byName["*"+name[i:]]; ok {
				return c, nil
			}
		}
	}
	return set.certs[0], nil
}

// TLSConfig returns a server configuration serving the store's
// certificates, offering HTTP/2 and HTTP/1.1 by ALPN. minVersion 0 means
// TLS 1.2.
func (s *CertStore) TLSConfig(minVersion uint16) *tls.Config {
	if minVersion == 0 {
		minVersion = tls.VersionTLS12
	}
	return &tls.Config{
		GetCertificate: s.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     minVersion,
	}
}

// ParseTLSVersion maps "1.0" … "1.3" to the tls package's constants; ""
// is TLS 1.2.
func ParseTLSVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q (allowed: 1.0, 1.1, 1.2, 1.3)", v)
}

func loadCertSet(pairs []CertPair, log *slog.Logger) (*certSet, error) {
	set := &certSet{byName: map[string]*tls.Certificate{}}
	now := time.Now()
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
		}
		leaf := c.Leaf
		if leaf == nil { // filled by LoadX509KeyPair since Go 1.23
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, fmt.Errorf("certificate %s: %w", p.CertFile, err)
			}
			c.Leaf = leaf
		}
		if now.After(leaf.NotAfter) {
			log.Warn("tls certificate has expired", "file", p.CertFile, "not_after", leaf.NotAfter)
		}
		set.certs = append(set.certs, &c)
		names := leaf.DNSNames
		if len(names) == 0 && leaf.Subject.CommonName != "" {
			names = []string{leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			if _, dup := set.byName[n]; !dup {
				set.byName[n] = &c
			}
		}
	}
	return set, nil
}
