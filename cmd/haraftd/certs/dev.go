package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/haraft/haraft/cluster"
)

// CA is a generated certificate authority that can issue certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is where WriteCA wrote the CA certificate.
	File string
}

// NewCA generates a throwaway CA valid for validity from now.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"haraft"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// WriteCA writes the CA certificate to dir/name.
func (ca *CA) WriteCA(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	if err := writePEM(path, "CERTIFICATE", ca.Cert.Raw, 0o644); err != nil {
		return "", err
	}
	ca.File = path
	return path, nil
}

// Issue writes a certificate for name (also its first DNS name) and its
// key under dir as name.pem and name-key.pem. The certificate is valid for
// both TLS servers and clients and names localhost, 127.0.0.1 and ::1 plus
// hosts (IPs or DNS names), so one works for a node on loopback. It names
// no cluster node: it is an admin client's (haraftctl) or a listener's.
func (ca *CA) Issue(dir, name string, hosts ...string) (Files, error) {
	return ca.issue(dir, name, nil, true, ca.Cert.NotAfter, hosts)
}

// IssueNode writes node id's certificate and key under dir as id.pem and
// id-key.pem: its identity on the cluster port is the URI SAN
// cluster.NodeURI(id) (spiffe://haraft/node/<id>). hosts (IPs or DNS
// names) are added as SANs for clients that check host names (haraftctl
// against admin.tls); with none, localhost, 127.0.0.1 and ::1.
func (ca *CA) IssueNode(dir, id string, hosts ...string) (Files, error) {
	return ca.issueNode(dir, id, ca.Cert.NotAfter, hosts)
}

func (ca *CA) issueNode(dir, id string, notAfter time.Time, hosts []string) (Files, error) {
	if id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
		return Files{}, fmt.Errorf("invalid node id %q", id)
	}
	return ca.issue(dir, id, []*url.URL{cluster.NodeURI(id)}, len(hosts) == 0, notAfter, hosts)
}

func (ca *CA) issue(dir, name string, uris []*url.URL, loopback bool, notAfter time.Time, hosts []string) (Files, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, err
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"haraft"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         uris,
	}
	if loopback {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	if validDNSName(name) && uris == nil {
		tmpl.DNSNames = append([]string{name}, tmpl.DNSNames...)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Files{}, fmt.Errorf("issue %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Files{}, err
	}
	f := Files{CA: ca.File, Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := writePEM(f.Cert, "CERTIFICATE", der, 0o644); err != nil {
		return Files{}, err
	}
	if err := writePEM(f.Key, "EC PRIVATE KEY", kder, 0o600); err != nil {
		return Files{}, err
	}
	return f, nil
}

// validDNSName reports whether s can be a DNS SAN (letters, digits, '-'
// and '.', no empty label).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// WriteKey writes the CA's private key to path (mode 0600).
func (ca *CA) WriteKey(path string) error {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// LoadCA reads a CA certificate and its private key (PEM), as WriteCA and
// WriteKey wrote them, to issue certificates with it.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s / key %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("CA key %s: %T, want an ECDSA key", keyFile, pair.PrivateKey)
	}
	return &CA{Cert: cert, key: key, File: certFile}, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Dev is the TLS material of a development cluster.
type Dev struct {
	Dir    string
	CA     string           // the CA certificate
	Nodes  map[string]Files // per node id
	Client Files            // for haraftctl
}

// GenerateDev makes a throwaway CA valid for 30 days in dir, a certificate
// per node and one for haraftctl, all signed by it.
func GenerateDev(dir string, nodes []string) (*Dev, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := NewCA("haraft dev CA", 30*24*time.Hour)
	if err != nil {
		return nil, err
	}
	d := &Dev{Dir: dir, Nodes: map[string]Files{}}
	if d.CA, err = ca.WriteCA(dir, "ca.pem"); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if d.Nodes[n], err = ca.IssueNode(dir, n); err != nil {
			return nil, err
		}
	}
	if d.Client, err = ca.Issue(dir, "haraftctl"); err != nil {
		return nil, err
	}
	return d, nil
}
