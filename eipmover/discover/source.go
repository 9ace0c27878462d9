package discover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// Target is one server a Source found.
type Target struct {
	// Name is the server's name in its backend: the instance id for EC2,
	// address-port (10.0.0.5-8080) for DNS.
	Name string
	// Addr is host:port to connect to.
	Addr string
	// Cookie is the value naming the server in insert, prefix and rewrite
	// cookie modes; derived from Name alone, so every leader derives the
	// same one.
	Cookie string
}

// Source finds the targets of one backend.
type Source interface {
	// Kind names the source ("ec2", "dns"): it is the owner recorded on
	// every server it adds.
	Kind() string
	// Discover returns the targets there are now. An error means the
	// answer is unknown (not "none").
	Discover(ctx context.Context) ([]Target, error)
	// Describe says what the source queries, for errors and /status
	// ("ec2 tags role=app, running").
	Describe() string
}

// ErrEmpty is reported when a source answers with no target at all.
var ErrEmpty = errors.New("no target found")

// dnsCookie derives a DNS target's cookie value from its name: an address
// would tell clients the servers' internal addresses.
func dnsCookie(name string) string {
	sum := sha256.Sum256([]byte("haraft-dns-server\x00" + name))
	return "d" + hex.EncodeToString(sum[:6])
}
