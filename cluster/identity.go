package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// A node's identity on the cluster port is its node id, carried by its
// certificate as one URI SAN, spiffe://haraft/node/<node id> (a SPIFFE ID:
// a name, not an address, so a node keeps its identity when it moves).
// A certificate of the cluster CA without such a SAN (an admin client's,
// say) is refused on the cluster port.
const (
	identityScheme = "spiffe"
	identityHost   = "haraft"
	identityPrefix = "/node/"
)

// NodeURI is the URI SAN that names node id in its certificate.
func NodeURI(id string) *url.URL {
	return &url.URL{Scheme: identityScheme, Host: identityHost, Path: identityPrefix + id}
}

// NodeIDOf returns the node id a certificate names (its one
// spiffe://haraft/node/... URI SAN). It does not verify the certificate.
func NodeIDOf(cert *x509.Certificate) (string, error) {
	id := ""
	for _, u := range cert.URIs {
		if u.Scheme != identityScheme || u.Host != identityHost || !strings.HasPrefix(u.Path, identityPrefix) {
			continue
		}
		if id != "" {
			return "", errors.New("certificate names more than one haraft node")
		}
		id = strings.TrimPrefix(u.Path, identityPrefix)
		if id == "" {
			return "", errors.New("certificate names an empty haraft node id")
		}
	}
	if id == "" {
		return "", fmt.Errorf("certificate %q names no haraft node (no %s://%s%s<id> URI SAN): not a cluster member's", cert.Subject.CommonName, identityScheme, identityHost, identityPrefix)
	}
	return id, nil
}

// peerNodeID returns the node id of a verified TLS peer. The chain was
// verified by the handshake (the cluster CA); this reads its identity.
func peerNodeID(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("peer presented no certificate")
	}
	return NodeIDOf(cs.PeerCertificates[0])
}

// idConn is an accepted cluster-port connection with its peer's verified
// node id ("" without TLS).
type idConn struct {
	net.Conn
	id string
}

// PeerAuthInfo is the gRPC AuthInfo of a call on the cluster port's
// internal service: the node id the caller's certificate carries.
type PeerAuthInfo struct {
	credentials.CommonAuthInfo
	NodeID string // "" when the cluster port runs without TLS (raft.insecure)
}

// AuthType implements credentials.AuthInfo.
func (PeerAuthInfo) AuthType() string { return "haraft-cluster" }

// PeerNodeID returns the verified node id of the cluster peer that made
// the gRPC call in ctx (its certificate's identity, checked by the cluster
// port against the cluster CA). ok is false when the port runs without
// TLS, or ctx is not a call on the internal service.
func PeerNodeID(ctx context.Context) (id string, ok bool) {
	p, found := peer.FromContext(ctx)
	if !found {
		return "", false
	}
	ai, isOurs := p.AuthInfo.(PeerAuthInfo)
	if !isOurs || ai.NodeID == "" {
		return "", false
	}
	return ai.NodeID, true
}

// muxCreds are the internal gRPC server's transport credentials: the mux
// did the TLS handshake and checked the peer; these only pass its node id
// on to the handlers (PeerNodeID).
type muxCreds struct{}

func (muxCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, PeerAuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (muxCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	ai := PeerAuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	if ic, ok := c.(*idConn); ok && ic.id != "" {
		ai.NodeID = ic.id
		ai.SecurityLevel = credentials.PrivacyAndIntegrity
	}
	return c, ai, nil
}

func (muxCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "haraft-cluster"}
}

func (muxCreds) Clone() credentials.TransportCredentials { return muxCreds{} }

func (muxCreds) OverrideServerName(string) error { return nil } //nolint:staticcheck // part of the interface
