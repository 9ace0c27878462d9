// Package certs owns haraft's TLS material: it turns a CA, a certificate
// and a key in PEM files into the tls.Configs of the cluster port (mutual
// TLS between nodes) and of the admin listener and its clients, and, for
// `haraftd -dev` and tests, generates a throwaway CA with node and client
// certificates.
//
// Between nodes the chain is verified against the cluster CA in both
// directions, host names are not checked, and the certificate's identity
// is: a node's certificate carries its node id as the URI SAN
// spiffe://haraft/node/<id> (IssueNode, cluster.NodeURI), and the cluster
// port (cluster/mux.go) accepts a peer only as the node its certificate
// names, and dials a member only if its certificate names that member. A
// certificate of the cluster CA without a node identity (an admin
// client's) is no cluster member. `haraftd tls ca create` and `haraftd
// tls cert create` (cli.go) make a CA and these certificates.
// Admin clients verify the node's certificate as usual, host name
// included.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names a CA, a certificate and its key, all PEM.
type Files struct {
	CA   string // certificates that sign the peer's certificate; optional where said
	Cert string
	Key  string
}

// loadPool reads a PEM bundle of CA certificates.
func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

func loadPair(f Files) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return c, fmt.Errorf("certificate %s / key %s: %w", f.Cert, f.Key, err)
	}
	return c, nil
}

// Cluster returns the server and client configs of the cluster port: both
// sides present their certificate and verify the other's chain against f.CA.
func Cluster(f Files) (server, client *tls.Config, err error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, nil, errors.New("cluster TLS needs a CA, a certificate and a key")
	}
	pool, err := loadPool(f.CA)
	if err != nil {
		return nil, nil, err
	}
	cert, err := loadPair(f)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// The chain is verified below, without a host name: peers are
		// dialled at addresses their certificates need not name.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   verifyChain(pool, x509.ExtKeyUsageServerAuth),
	}
	return server, client, nil
}

// verifyChain checks the peer's certificate chain against pool, without a
// host name.
func verifyChain(pool *x509.CertPool, usage x509.ExtKeyUsage) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
		if err != nil {
			return fmt.Errorf("peer certificate not signed by the cluster CA: %w", err)
		}
		return nil
	}
}

// AdminServer returns the admin listener's config: it presents f's
// certificate and, when f.CA is set, requires clients to present one that
// f.CA signed.
func AdminServer(f Files) (*tls.Config, error) {
	cert, err := loadPair(f)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return c, nil
}

// Client returns an admin client's config: it verifies the node's
// certificate against f.CA (the system roots when empty) and serverName,
// and presents f's certificate when f.Cert is set.
func Client(f Files, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		cert, err := loadPair(f)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
